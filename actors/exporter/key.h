/*  The exporter's SSH client key: ed25519, made with libsodium on first use
    and stored in the OpenSSH format (mode 0600, never sent anywhere; the
    public half beside it in <file>.pub for the provisioners to install). */
#ifndef LL_EXPORTER_KEY_H
#define LL_EXPORTER_KEY_H

#include <stddef.h>

typedef struct {
    char *private_pem;   //  "-----BEGIN OPENSSH PRIVATE KEY-----..." (owned)
    size_t private_len;  //  bytes in private_pem
    char *public_line;   //  "ssh-ed25519 AAAA... lablink-export" (owned)
} ll_ssh_key_t;

//  Load path, creating it (and path.pub, and missing parent folders) when
//  absent. NULL with a reason in error on failure.
ll_ssh_key_t *ll_ssh_key_load (const char *path, char *error, size_t errsize);

//  Zeroes the private key before freeing.
void ll_ssh_key_destroy (ll_ssh_key_t **self_p);

#endif
