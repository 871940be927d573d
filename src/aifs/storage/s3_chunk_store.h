// S3ChunkStore: one S3 object per chunk object, in a bucket of any
// S3-compatible store (AWS, Ceph radosgw, MinIO, ...). URL:
//   s3://BUCKET?endpoint=http://host:port&region=us-east-1[&prefix=P]
//       [&credentials=/path/file][&profile=NAME][&addressing=path|virtual]
//       [&connections=16][&retries=4][&timeout=30]
// Object keys are <prefix><name>. Path-style addressing (host/bucket/key,
// what radosgw and MinIO expect) is the default; addressing=virtual asks for
// bucket.host/key. Without endpoint= the store is AWS's
// https://s3.<region>.amazonaws.com, virtual-hosted. connections bounds the
// connections (and requests in flight), retries the further attempts of a
// failed request, timeout the seconds a request may stall without a byte.
// Credentials never go in the URL (a URL naming a key or secret is refused):
// see LoadS3Credentials (s3_client.h) for where they come from. No error
// message, Url() or log line contains the secret.
//
// Promise: as ChunkStore's. A Put is one PUT whose x-amz-content-sha256 is
// the body's real SHA-256, so the server refuses a body damaged on the way;
// S3 makes an object visible whole or not at all, and answers 200 only once
// it is durably stored, so Sync() has nothing left to do. Puts are
// idempotent (names are unique, objects immutable) and are retried like
// every other request. List uses ListObjectsV2, 1000 keys per page.
// Errors (stable reasons): missing object NOT_FOUND CHUNK_MISSING; a wrong
// secret or unknown access key UNAUTHENTICATED S3_AUTH_FAILED (already at
// Open); AccessDenied PERMISSION_DENIED CHUNK_STORE_DENIED; a missing bucket
// NOT_FOUND CHUNK_STORE_NOT_FOUND; no answer or 5xx after the retries
// UNAVAILABLE CHUNK_STORE_UNAVAILABLE; a body damaged in flight (after the
// retries) DATA_LOSS S3_CHECKSUM_MISMATCH; a bad URL INVALID_ARGUMENT
// BAD_CHUNK_STORE_URL; no credentials FAILED_PRECONDITION S3_NO_CREDENTIALS.
// Every message names the endpoint, the bucket and S3's error code.
// Thread safety: every method may be called from any number of threads.
#pragma once

#include <memory>
#include <string>

#include "aifs/storage/chunk_store.h"
#include "aifs/storage/s3_client.h"

namespace aifs {

class S3ChunkStore : public ChunkStore {
 public:
  // Opens the store at `url` and checks the credentials and the bucket with
  // one signed listing, so a wrong secret fails here, not at the first put.
  // `create` makes the bucket when it is missing.
  static Result<std::unique_ptr<ChunkStore>> Open(const std::string& url, bool create);

  std::string Url() const override { return url_; }
  Status Put(const std::string& name, ByteSpan data) override;
  Status Get(const std::string& name, Bytes& out) override;
  Status GetRange(const std::string& name, uint64_t offset, uint64_t length, Bytes& out) override;
  Status Delete(const std::string& name) override;
  Status Sync() override { return Status::Ok(); }  // a 200 PUT is durable
  Status List(const std::function<bool(const std::string&, uint64_t)>& fn) override;

  // Test hook: a Put that claims `sha256_hex` as the body's hash, as if the
  // body had been damaged after hashing.
  Status PutClaimingSha256ForTest(const std::string& name, ByteSpan data,
                                  const std::string& sha256_hex);

 private:
  S3ChunkStore(std::string url, std::string bucket, std::string prefix,
               std::unique_ptr<S3Client> client)
      : url_(std::move(url)),
        bucket_(std::move(bucket)),
        prefix_(std::move(prefix)),
        client_(std::move(client)) {}
  Status CheckBucket(bool create);
  Result<std::string> KeyFor(const std::string& name) const;
  Status PutWithHash(const std::string& name, ByteSpan data, const std::string& sha256_hex);
  // The Status for an answer that is not a success.
  Status Failure(const S3Response& r, const std::string& what) const;

  const std::string url_;
  const std::string bucket_;
  const std::string prefix_;
  const std::unique_ptr<S3Client> client_;
};

}  // namespace aifs
