#ifndef TOOLWORKER_CCRYPTO_SHIM_H
#define TOOLWORKER_CCRYPTO_SHIM_H
#include <openssl/evp.h>
#include <openssl/hmac.h>

/// HMAC-SHA-256 of `data` under `key` into `out` (32 bytes); 1 on success. EVP_sha256 is a function-like macro
/// in some OpenSSL builds, so it is called here.
static inline int tw_hmac_sha256(const void *key, int keyLength, const unsigned char *data, size_t dataLength, unsigned char *out) {
    unsigned int length = 0;
    return HMAC(EVP_sha256(), key, keyLength, data, dataLength, out, &length) != NULL && length == 32;
}
#endif
