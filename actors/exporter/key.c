#include "actors/exporter/key.h"
#include "runtime/textbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_KEY_FILE_MAX 16384
#define S_BEGIN        "-----BEGIN OPENSSH PRIVATE KEY-----\n"
#define S_END          "-----END OPENSSH PRIVATE KEY-----\n"
#define S_COMMENT      "lablink-export"

//  A small growable byte buffer for the key encoding.
typedef struct {
    unsigned char data[1024];  //  bytes
    size_t len;                //  used
} s_buf_t;

static void
s_buf_raw (s_buf_t *b, const void *p, size_t n)
{
    if (b->len + n > sizeof b->data)
        return;  //  cannot happen for one ed25519 key
    memcpy (b->data + b->len, p, n);
    b->len += n;
}

static void
s_buf_u32 (s_buf_t *b, uint32_t v)
{
    unsigned char p[4] = {(unsigned char) (v >> 24), (unsigned char) (v >> 16),
                          (unsigned char) (v >> 8), (unsigned char) v};
    s_buf_raw (b, p, 4);
}

static void
s_buf_string (s_buf_t *b, const void *p, size_t n)
{
    s_buf_u32 (b, (uint32_t) n);
    s_buf_raw (b, p, n);
}

static char *
s_base64 (const unsigned char *p, size_t n)
{
    size_t size = sodium_base64_ENCODED_LEN (n, sodium_base64_VARIANT_ORIGINAL);
    char *out = malloc (size);
    if (out)
        sodium_bin2base64 (out, size, p, n, sodium_base64_VARIANT_ORIGINAL);
    return out;
}

static int
s_write_file (const char *path, const char *text, mode_t mode)
{
    char tmp[4200];
    snprintf (tmp, sizeof tmp, "%s.tmp%ld", path, (long) getpid ());
    int fd = open (tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    size_t len = strlen (text), done = 0;
    while (done < len) {
        ssize_t n = write (fd, text + done, len - done);
        if (n <= 0) {
            close (fd);
            unlink (tmp);
            return -1;
        }
        done += (size_t) n;
    }
    if (fsync (fd) != 0 || close (fd) != 0 || rename (tmp, path) != 0) {
        unlink (tmp);
        return -1;
    }
    return 0;
}

static void
s_mkdirs (const char *path)
{
    char dir[4096];
    snprintf (dir, sizeof dir, "%s", path);
    for (char *p = dir + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir (dir, 0700);
            *p = '/';
        }
}

//  Make a fresh key at path; 0 or -1.
static int
s_generate (const char *path)
{
    unsigned char pk[crypto_sign_PUBLICKEYBYTES],
        sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_keypair (pk, sk);  //  sk = seed || pk, as OpenSSH stores it

    s_buf_t pub = {0};
    s_buf_string (&pub, "ssh-ed25519", 11);
    s_buf_string (&pub, pk, sizeof pk);

    s_buf_t priv = {0};
    uint32_t check = randombytes_random ();
    s_buf_u32 (&priv, check);
    s_buf_u32 (&priv, check);
    s_buf_string (&priv, "ssh-ed25519", 11);
    s_buf_string (&priv, pk, sizeof pk);
    s_buf_string (&priv, sk, sizeof sk);
    s_buf_string (&priv, S_COMMENT, strlen (S_COMMENT));
    for (unsigned char pad = 1; priv.len % 8; pad++)
        s_buf_raw (&priv, &pad, 1);

    s_buf_t *all = calloc (1, sizeof *all);
    s_buf_raw (all, "openssh-key-v1", 15);  //  with its NUL
    s_buf_string (all, "none", 4);
    s_buf_string (all, "none", 4);
    s_buf_string (all, "", 0);
    s_buf_u32 (all, 1);
    s_buf_string (all, pub.data, pub.len);
    s_buf_string (all, priv.data, priv.len);

    char *b64 = s_base64 (all->data, all->len);
    char *pub64 = s_base64 (pub.data, pub.len);
    char *pem = b64 ? malloc (strlen (b64) + strlen (b64) / 70 + 128) : NULL;
    int rc = -1;
    if (pem && pub64) {
        size_t len = 0, total = strlen (b64);
        memcpy (pem, S_BEGIN, strlen (S_BEGIN));
        len = strlen (S_BEGIN);
        for (size_t at = 0; at < total; at += 70) {
            size_t n = total - at < 70 ? total - at : 70;
            memcpy (pem + len, b64 + at, n);
            len += n;
            pem[len++] = '\n';
        }
        memcpy (pem + len, S_END, strlen (S_END) + 1);
        char line[256], pubpath[4200];
        snprintf (line, sizeof line, "ssh-ed25519 %s %s\n", pub64, S_COMMENT);
        snprintf (pubpath, sizeof pubpath, "%s.pub", path);
        s_mkdirs (path);
        rc = s_write_file (path, pem, 0600) == 0
                     && s_write_file (pubpath, line, 0644) == 0
                 ? 0
                 : -1;
    }
    if (pem)
        sodium_memzero (pem, strlen (pem));
    if (b64)
        sodium_memzero (b64, strlen (b64));
    sodium_memzero (all, sizeof *all);
    sodium_memzero (&priv, sizeof priv);
    sodium_memzero (sk, sizeof sk);
    free (pem);
    free (b64);
    free (pub64);
    free (all);
    return rc;
}

ll_ssh_key_t *
ll_ssh_key_load (const char *path, char *error, size_t errsize)
{
    if (sodium_init () < 0) {
        snprintf (error, errsize, "libsodium cannot start");
        return NULL;
    }
    struct stat st;
    if (stat (path, &st) != 0) {
        if (errno != ENOENT || s_generate (path) != 0) {
            snprintf (error, errsize, "cannot create the key %s: %s", path,
                      strerror (errno));
            return NULL;
        }
    }
    ll_ssh_key_t *self = calloc (1, sizeof *self);
    char pubpath[4200];
    snprintf (pubpath, sizeof pubpath, "%s.pub", path);
    size_t publen = 0;
    self->private_pem = ll_file_read (path, S_KEY_FILE_MAX, &self->private_len);
    self->public_line = ll_file_read (pubpath, S_KEY_FILE_MAX, &publen);
    if (!self->private_pem || !self->public_line
        || !strstr (self->private_pem, S_BEGIN)) {
        snprintf (error, errsize, "cannot read the key %s (and its .pub)",
                  path);
        ll_ssh_key_destroy (&self);
        return NULL;
    }
    char *nl = strchr (self->public_line, '\n');
    if (nl)
        *nl = '\0';
    return self;
}

void
ll_ssh_key_destroy (ll_ssh_key_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ll_ssh_key_t *self = *self_p;
    if (self->private_pem)
        sodium_memzero (self->private_pem, self->private_len);
    free (self->private_pem);
    free (self->public_line);
    free (self);
    *self_p = NULL;
}
