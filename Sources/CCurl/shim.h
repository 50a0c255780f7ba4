#ifndef TOOLWORKER_CCURL_SHIM_H
#define TOOLWORKER_CCURL_SHIM_H
#include <curl/curl.h>

/// curl_easy_setopt and curl_easy_getinfo are variadic: Swift cannot call them, so each argument kind
/// gets one typed entry point here (a system-library target compiles no .c files, hence static inline).
static inline CURLcode tw_curl_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode tw_curl_setopt_string(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode tw_curl_setopt_pointer(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode tw_curl_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode tw_curl_setopt_write_function(CURL *h, curl_write_callback f) { return curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, f); }
static inline CURLcode tw_curl_setopt_header_function(CURL *h, curl_write_callback f) { return curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, f); }
static inline CURLcode tw_curl_getinfo_long(CURL *h, CURLINFO i, long *out) { return curl_easy_getinfo(h, i, out); }
static inline CURLcode tw_curl_getinfo_pointer(CURL *h, CURLINFO i, void **out) { return curl_easy_getinfo(h, i, out); }
/// CURL_WRITEFUNC_PAUSE is a macro of an unsigned expression that Swift does not import.
static inline size_t tw_curl_writefunc_pause(void) { return CURL_WRITEFUNC_PAUSE; }
static inline int tw_curl_pause_all(void) { return CURLPAUSE_ALL; }
static inline int tw_curl_pause_cont(void) { return CURLPAUSE_CONT; }
static inline long tw_curl_global_all(void) { return CURL_GLOBAL_ALL; }
/// CURLVERSION_NOW is a macro naming the newest struct version this header knows.
static inline curl_version_info_data *tw_curl_version_info(void) { return curl_version_info(CURLVERSION_NOW); }
#endif
