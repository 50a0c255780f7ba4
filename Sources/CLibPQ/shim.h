#ifndef TOOLWORKER_CLIBPQ_SHIM_H
#define TOOLWORKER_CLIBPQ_SHIM_H
// Debian's libpq-dev puts the header under /usr/include/postgresql (pkg-config libpq says so).
#include <libpq-fe.h>
#endif
