/*
 * sigtap.c - LD_PRELOAD shim that records what a process signs and verifies
 * through OpenSSL's one-shot EVP_DigestSign / EVP_DigestVerify.
 *
 * Why: i2pd 2.45 has no way to export a LeaseSet in raw form (its web console
 * shows decoded fields only, it persists none, SAM and I2PControl return
 * destinations, not LeaseSets), and on the wire every DatabaseStore is inside
 * NTCP2/SSU2 encryption. But i2pd signs a LeaseSet2 by handing OpenSSL the
 * store type byte followed by the LeaseSet2 content (LocalLeaseSet2 builds the
 * buffer that way), and a floodfill verifies a received one the same way.
 * So "tbs without its first byte" + "signature" is byte for byte the
 * LeaseSet2 of the DatabaseStore (type 3) that i2pd publishes.
 *
 * Build:  gcc -shared -fPIC -O2 -o sigtap.so sigtap.c -ldl
 * Use:    LD_PRELOAD=/path/sigtap.so SIGTAP_OUT=/path/sigtap.log i2pd ...
 *         (SIGTAP_OUT defaults to ./sigtap.log)
 * Output: one line per call whose data starts with a byte listed in
 *         SIGTAP_FIRST (default "3,5,7": LeaseSet2, EncryptedLeaseSet, MetaLeaseSet):
 *         "SIGN|VERIFY <return value> <data hex> <signature hex>"
 *
 * A test tool only: never load it into anything but a throwaway test router.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* OpenSSL's headers are not needed (nor always installed): the context is opaque. */
typedef struct evp_md_ctx_st EVP_MD_CTX;
typedef int (*sign_fn)(EVP_MD_CTX *, unsigned char *, size_t *, const unsigned char *, size_t);
typedef int (*verify_fn)(EVP_MD_CTX *, const unsigned char *, size_t, const unsigned char *,
                         size_t);

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static int wanted(const unsigned char *tbs, size_t len)
{
    const char *list = getenv("SIGTAP_FIRST");
    char buf[64];
    if (!tbs || len == 0)
        return 0;
    if (!list)
        list = "3,5,7";
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        if (atoi(t) == tbs[0])
            return 1;
    return 0;
}

static void hex(FILE *f, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%02x", p[i]);
}

static void record(const char *op, int rc, const unsigned char *tbs, size_t tbslen,
                   const unsigned char *sig, size_t siglen)
{
    const char *path = getenv("SIGTAP_OUT");
    FILE *f;
    pthread_mutex_lock(&out_lock);
    f = fopen(path ? path : "sigtap.log", "a");
    if (f) {
        fprintf(f, "%s %d ", op, rc);
        hex(f, tbs, tbslen);
        fputc(' ', f);
        if (sig && siglen)
            hex(f, sig, siglen);
        else
            fputc('-', f);
        fputc('\n', f);
        fclose(f);
    }
    pthread_mutex_unlock(&out_lock);
}

int EVP_DigestSign(EVP_MD_CTX *ctx, unsigned char *sigret, size_t *siglen,
                   const unsigned char *tbs, size_t tbslen)
{
    static sign_fn real;
    int rc;
    if (!real)
        real = (sign_fn)dlsym(RTLD_NEXT, "EVP_DigestSign");
    if (!real)
        return 0;
    rc = real(ctx, sigret, siglen, tbs, tbslen);
    /* sigret == NULL is a length query: nothing was signed */
    if (sigret && siglen && wanted(tbs, tbslen))
        record("SIGN", rc, tbs, tbslen, sigret, *siglen);
    return rc;
}

int EVP_DigestVerify(EVP_MD_CTX *ctx, const unsigned char *sigret, size_t siglen,
                     const unsigned char *tbs, size_t tbslen)
{
    static verify_fn real;
    int rc;
    if (!real)
        real = (verify_fn)dlsym(RTLD_NEXT, "EVP_DigestVerify");
    if (!real)
        return -1;
    rc = real(ctx, sigret, siglen, tbs, tbslen);
    if (wanted(tbs, tbslen))
        record("VERIFY", rc, tbs, tbslen, sigret, siglen);
    return rc;
}
