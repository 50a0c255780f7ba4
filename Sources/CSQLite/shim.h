#ifndef TOOLWORKER_CSQLITE_SHIM_H
#define TOOLWORKER_CSQLITE_SHIM_H
#include <sqlite3.h>

/// SQLITE_TRANSIENT is a cast macro Swift does not import: bind calls use this to make SQLite copy the bytes.
static inline sqlite3_destructor_type tw_sqlite_transient(void) { return SQLITE_TRANSIENT; }

/// sqlite3_db_config is variadic; turn off double-quoted string literals (a classic SQL footgun).
static inline void tw_sqlite_disable_dqs(sqlite3 *db) {
#if SQLITE_VERSION_NUMBER >= 3029000
    sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DDL, 0, (void *)0);
    sqlite3_db_config(db, SQLITE_DBCONFIG_DQS_DML, 0, (void *)0);
#endif
}

/// Keep the -wal and -shm files after close so read-only readers (operators in the group) keep working.
static inline int tw_sqlite_persist_wal(sqlite3 *db) {
    int one = 1;
    return sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL, &one);
}
#endif
