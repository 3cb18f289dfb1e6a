/*  Secrets held as C strings (passwords, PINs, CRD commands, claim
    secrets, tokens): wiped before their memory goes back to malloc. */
#ifndef LL_SECRET_H
#define LL_SECRET_H

//  Wipe the string, free it and set *secret_p to NULL; NULL: nothing.
void ll_secret_free (char **secret_p);

#endif
