// Every limit Firehose enforces, in one place: its name (which is also its config key under
// [limits]), its default, the range the config may set it to, its unit, and why it exists.
//
// A limit protects something specific: memory, a file descriptor budget, the disk, a worker
// thread, or the partners sharing a server. When a limit is hit the caller gets a Status naming
// it, a counter moves, and nothing already accepted is lost.
#pragma once

#include <cstdint>
#include <string_view>

namespace firehose {

// X(name, default, min, max, unit, reason)
#define FIREHOSE_LIMITS(X)                                                                        \
  /* --- the HTTP edge --- */                                                                     \
  X(body_bytes_max, 1 << 20, 1024, 64 << 20, "bytes",                                             \
    "largest webhook body read into memory; larger bodies get 413 before they are buffered")      \
  X(header_bytes_max, 16 << 10, 1024, 1 << 20, "bytes",                                           \
    "largest request line + header section; bounds per-connection memory")                        \
  X(batch_events_max, 1000, 1, 100000, "events",                                                  \
    "most events in one webhook body; a bigger batch gets 413 and must be split")                 \
  X(json_depth_max, 64, 4, 1024, "levels",                                                        \
    "deepest JSON nesting accepted in a body; deeper is quarantined (no stack exhaustion)")       \
  X(connections_max, 10000, 16, 1000000, "connections",                                           \
    "open client connections; beyond it new connections are closed at accept")                   \
  X(connections_per_address_max, 1000, 1, 1000000, "connections",                                 \
    "open connections from one remote address, so one client cannot take every slot")            \
  X(header_timeout_ms, 10000, 100, 600000, "ms",                                                  \
    "time to receive a request's header section, from accept for a connection's first request "   \
    "(a client that sends nothing) and from the first byte for later ones (slowloris)")           \
  X(body_timeout_ms, 30000, 100, 600000, "ms",                                                    \
    "time to receive a whole request body once its header section arrived")                      \
  X(idle_timeout_ms, 60000, 100, 3600000, "ms",                                                   \
    "time a keep-alive connection may wait for its next request before it is closed")             \
  X(write_timeout_ms, 10000, 100, 600000, "ms",                                                   \
    "time a response may wait on a client that does not read it; then the connection is dropped")  \
  X(in_flight_appends_max, 65536, 16, 10000000, "requests",                                       \
    "webhook requests waiting for their durable append; beyond it the edge answers 503")         \
  X(retry_after_s, 1, 1, 3600, "seconds", "Retry-After sent with 503 answers")                    \
  X(close_linger_ms, 2000, 0, 60000, "ms",                                                        \
    "time a connection closed after an answer keeps discarding unread request bytes, so that a "  \
    "TCP reset does not destroy the answer (a 413 sent before the body was read)")               \
  X(stream_buffer_bytes_max, 1 << 20, 4096, 64 << 20, "bytes",                                    \
    "bytes queued for one streaming (SSE) client that reads slower than data comes; beyond it "   \
    "the stream is ended rather than buffered without bound")                                     \
  /* --- the embedded log --- */                                                                  \
  X(queue_bytes_max, 8LL << 30, 1 << 20, 1LL << 50, "bytes",                                      \
    "log bytes kept on disk; at the limit the edge answers 503 instead of acknowledging")         \
  X(segment_bytes_max, 128 << 20, 64 << 10, 4LL << 30, "bytes",                                   \
    "size at which the log rolls to a new segment file; the unit of deletion")                    \
  X(segment_prefill_bytes, 4 << 20, 0, 1LL << 30, "bytes",                                         \
    "zeros written ahead of the log's write position by a background thread, so that a group "    \
    "commit's fdatasync overwrites allocated blocks instead of growing the file (while groups "    \
    "are under 256 KiB); 0 turns it off")                                                         \
  X(segment_recycle_max, 4, 0, 1024, "files",                                                     \
    "retired segments whose files are kept (renamed *.log.free) for the next segments to be "      \
    "written into, so that a large group commit's fdatasync overwrites allocated blocks; kept "    \
    "only while they and the log fit in three quarters of queue_bytes_max; 0 deletes them")        \
  X(log_page_cache_bytes, 64 << 20, 0, 1LL << 40, "bytes",                                        \
    "the active segment's most recent bytes left in the page cache; older durable bytes are "     \
    "dropped from it (consumers further behind read from disk); 0 leaves them to the kernel")     \
  X(log_writeback_bytes, 1 << 20, 0, 256 << 20, "bytes",                                          \
    "a group commit larger than this is copied in pieces of this size, and the disk is started "  \
    "on each piece (sync_file_range) while the next is copied; 0 (off: a group waits for its "    \
    "fsync) or at least 65536")                                                                   \
  X(group_commit_bytes_max, 4 << 20, 4096, 256 << 20, "bytes",                                    \
    "most bytes written by one group commit before its fsync")                                    \
  X(group_commit_wait_us, 0, 0, 100000, "us",                                                     \
    "longest wait for a group to refill to the last group's size (at most half an fsync); 0 "     \
    "writes what is pending at once (for a disk whose fsync is slow against the clients' "        \
    "turnaround, try 1000)")                                                                      \
  X(group_commit_completions_max, 2, 1, 64, "groups",                                             \
    "durable groups whose acknowledgements wait for the completer thread; beyond it the writer "  \
    "waits (their memory: this many times group_commit_bytes_max)")                               \
  X(group_commit_inline_us, 50, 0, 10000, "us",                                                   \
    "a durable group whose acknowledgements are expected to take at most this long (the last "    \
    "group's cost per acknowledgement) is acknowledged by the writer itself when the completer "  \
    "is idle, saving a thread wake-up per group; 0 always hands groups to the completer")         \
  X(queue_pending_bytes_max, 64 << 20, 1 << 20, 16LL << 30, "bytes",                              \
    "frame bytes accepted by Append but not yet durable (writer memory when the disk lags; "       \
    "frames up to 16 KiB share 1 MiB chunks, up to group_commit_bytes_max of them kept for reuse)") \
  X(record_bytes_max, 2 << 20, 4096, 64 << 20, "bytes",                                           \
    "largest queue record (raw body + envelope) an append may store; lowering it leaves the "     \
    "records already stored readable (the max is the log format's frame limit)")                  \
  X(retention_s, 86400, 0, 365LL * 86400, "seconds",                                              \
    "how long a fully consumed segment is kept for inspection before deletion")                   \
  X(consumer_fetch_bytes_max, 8 << 20, 4096, 1LL << 30, "bytes",                                  \
    "most record bytes one consumer fetch returns")                                               \
  /* --- the JetStream queue backend --- */                                                       \
  X(jetstream_in_flight_max, 4096, 1, 1000000, "publishes",                                       \
    "appends published to JetStream and waiting for their PubAck; beyond it appends are refused " \
    "(503) instead of buffered in the client")                                                    \
  X(jetstream_ack_timeout_ms, 5000, 100, 600000, "ms",                                            \
    "time an append waits for its PubAck before it fails (503); a lost server or a stalled "       \
    "quorum must not hold a webhook request forever")                                             \
  X(jetstream_ack_wait_ms, 120000, 1000, 86400000, "ms",                                          \
    "time JetStream waits for a consumer's commit before it redelivers; longer than "             \
    "lake_roll_age_ms, or every open lake range is delivered twice (and dropped)")               \
  X(jetstream_ack_pending_max, 262144, 1024, 10000000, "records",                                \
    "records delivered to one consumer and not yet committed (ack-reply subjects kept in "        \
    "memory); at it the server pauses delivery until the lake publishes")                        \
  X(jetstream_lease_ms, 10000, 1000, 600000, "ms",                                                \
    "time a lake writer's lease lasts without renewal: how long a standby `firehose land` waits " \
    "before it takes over from a dead one")                                                       \
  /* --- the lake --- */                                                                          \
  X(lake_file_bytes_max, 128 << 20, 4096, 16LL << 30, "bytes",                                    \
    "uncompressed bytes in one lake file before the writer rolls (no single huge file)")          \
  X(lake_roll_age_ms, 60000, 10, 86400000, "ms",                                                  \
    "age of the oldest unpublished record before the writer rolls (no waiting forever)")          \
  X(lake_open_files_max, 64, 2, 4096, "files",                                                    \
    "partition files one lake writer keeps open; a range touching more is rolled early")          \
  X(lake_zstd_level, 1, 1, 19, "level", "zstd compression level of lake files")                   \
  /* --- the ledger --- */                                                                        \
  X(ledger_memory_bytes_max, 2LL << 30, 16 << 20, 1LL << 40, "bytes",                             \
    "peak memory of a ledger run (the whole process); beyond it partitions spill to disk")          \
  X(ledger_dedup_window_days, 1, 0, 31, "days",                                                   \
    "days read either side of the booked day so a resend across midnight is still one txn")      \
  /* --- the ops path --- */                                                                      \
  X(ops_partners_max, 10000, 1, 1000000, "partners",                                              \
    "partners the ops aggregator tracks; bounds its memory (partners x buckets)")                 \
  X(alert_queue_max, 1000, 1, 1000000, "notifications",                                           \
    "alert notifications waiting for a webhook destination; the oldest are dropped beyond it")    \
  X(sse_clients_max, 256, 1, 100000, "clients", "concurrent /api/ops/stream subscribers")         \
  X(ops_dedup_filter_bytes, 16 << 20, 64 << 10, 4LL << 30, "bytes",                               \
    "size of each of the two Bloom filters that estimate duplicates; sets how many recent "       \
    "txn ids the estimate remembers (filter bits / 16) at a false-positive rate under 1%")     \
  X(ops_relay_entries_max, 65536, 16, 10000000, "entries",                                        \
    "(partner, reason) error counts an ingest process accumulates for ops between two relay "     \
    "messages (about 200 bytes each); a new pair beyond it is dropped and counted")              \
  X(ops_relay_message_bytes_max, 65536, 1024, 1 << 20, "bytes",                                   \
    "largest ops error relay message: the sender splits its counts to fit, ops refuses a larger " \
    "one (at most the NATS servers' max_payload)")                                                \
  X(ops_relay_hold_s, 60, 1, 3600, "seconds",                                                     \
    "how long an ingest process keeps error counts it cannot send while NATS is unreachable; "    \
    "then they are dropped (counted), so a reconnect does not replay an old burst as a new one")  \
  X(ops_relay_pending_bytes_max, 8 << 20, 64 << 10, 1 << 30, "bytes",                             \
    "relay messages received by ops and not applied yet (the NATS client's buffer); beyond it "   \
    "NATS drops messages (counted as slow_consumer)")                                             \
  /* --- polling --- */                                                                           \
  X(poll_concurrency_max, 32, 1, 10000, "requests", "poll requests in flight at once")            \
  X(poll_response_bytes_max, 16 << 20, 1024, 1LL << 30, "bytes",                                  \
    "largest poll response body read; larger is a poll failure")                                  \
  X(poll_timeout_ms, 10000, 100, 600000, "ms", "time one poll request may take")                  \
  X(poll_connect_timeout_ms, 3000, 100, 600000, "ms",                                             \
    "time a poll request may take to connect (at most poll_timeout_ms): a dead host fails fast")  \
  X(poll_retry_after_max_s, 3600, 1, 86400, "seconds",                                            \
    "longest Retry-After a polled partner is obeyed for (a broken header cannot park it for days)") \
  /* --- the process --- */                                                                       \
  X(heap_retain_bytes, 64 << 20, 0, (1LL << 31) - 1, "bytes",                                     \
    "freed heap memory a server process keeps for reuse instead of returning it to the kernel "   \
    "at once (each group commit frees and reallocates a group): tcmalloc returns its free pages " \
    "above it once a second, a quarter of it bounds the threads' caches; glibc: its trim "        \
    "threshold; 0 leaves the allocator's defaults")

struct Limits {
#define FIREHOSE_DECLARE_LIMIT(name, default_value, min, max, unit, reason) \
  std::int64_t name = default_value;
  FIREHOSE_LIMITS(FIREHOSE_DECLARE_LIMIT)
#undef FIREHOSE_DECLARE_LIMIT
};

struct LimitSpec {
  std::string_view name;
  std::int64_t default_value;
  std::int64_t min;
  std::int64_t max;
  std::string_view unit;
  std::string_view reason;
  std::int64_t Limits::*field;
};

inline constexpr LimitSpec kLimitSpecs[] = {
#define FIREHOSE_LIMIT_SPEC(name, default_value, min, max, unit, reason) \
  {#name, default_value, min, max, unit, reason, &Limits::name},
    FIREHOSE_LIMITS(FIREHOSE_LIMIT_SPEC)
#undef FIREHOSE_LIMIT_SPEC
};

// The largest value the config accepts for the limit `name` (0 for no such limit): bounds that
// formats derive from a limit's range, such as the longest lake line, are compile-time constants.
constexpr std::int64_t LimitMax(std::string_view name) {
  for (const LimitSpec& spec : kLimitSpecs) {
    if (spec.name == name) return spec.max;
  }
  return 0;
}

// The most a queue record's envelope adds to a body (ids, signature id, remote address; checked
// against the record format in queue/record.cc): body_bytes_max plus this must fit in
// record_bytes_max, or a body the edge accepts could never be stored.
inline constexpr std::int64_t kRecordEnvelopeBytesMax = 2048;

}  // namespace firehose
