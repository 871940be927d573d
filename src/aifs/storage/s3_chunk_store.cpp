#include "aifs/storage/s3_chunk_store.h"

#include <algorithm>
#include <cstdlib>

#include "aifs/core/url_params.h"
#include "aifs/storage/curl_api.h"
#include "aifs/storage/s3_xml.h"

namespace aifs {

namespace {

// SHA-256 of no bytes: the payload hash of GET, HEAD and DELETE.
constexpr char kEmptySha256[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr int kListPage = 1000;

Status BadUrl(const std::string& why) {
  // The URL itself is not echoed: a secret put there by mistake stays out of messages.
  return err::InvalidArgument("BAD_CHUNK_STORE_URL", "bad s3:// chunk store URL: " + why);
}

bool ValidBucket(std::string_view b) {
  return b.size() >= 3 && b.size() <= 63 && std::all_of(b.begin(), b.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
         });
}

bool UrlSafe(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.';
}

// Object names as FileChunkStore takes them, limited to characters that need
// no escaping in a URL path.
bool ValidName(std::string_view n) {
  return n.size() >= 8 && n.size() <= 512 && n[0] != '.' &&
         std::all_of(n.begin(), n.end(), UrlSafe);
}

Result<int> PositiveParam(const std::string& name, const std::string& v, int max) {
  char* end = nullptr;
  const long n = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end || n < 0 || n > max)
    return BadUrl(name + " must be a number 0.." + std::to_string(max));
  return static_cast<int>(n);
}

struct ParsedUrl {
  std::string bucket, prefix, credentials, profile;
  S3ClientOptions client;
};

Result<ParsedUrl> ParseUrl(const std::string& url) {
  constexpr std::string_view kScheme = "s3://";
  if (!url.starts_with(kScheme)) return BadUrl("it must start with s3://");
  const size_t q = std::min(url.find('?'), url.size());
  ParsedUrl out;
  out.bucket = url.substr(kScheme.size(), q - kScheme.size());
  if (!out.bucket.empty() && out.bucket.back() == '/') out.bucket.pop_back();
  if (!ValidBucket(out.bucket))
    return BadUrl("the bucket name must be 3..63 characters of a-z 0-9 . -");
  std::string addressing;
  AIFS_RETURN_IF_ERROR(ForEachUrlParam(
      std::string_view(url).substr(std::min(q + 1, url.size())), '&', "BAD_CHUNK_STORE_URL",
      "bad s3:// chunk store URL", [&](std::string_view name, std::string value) -> Status {
        const std::string key(name);
        if (key == "endpoint") {
          out.client.endpoint = std::move(value);
        } else if (key == "region") {
          out.client.region = std::move(value);
        } else if (key == "prefix") {
          out.prefix = std::move(value);
        } else if (key == "credentials") {
          out.credentials = std::move(value);
        } else if (key == "profile") {
          out.profile = std::move(value);
        } else if (key == "addressing") {
          addressing = std::move(value);
        } else if (key == "connections") {
          AIFS_ASSIGN_OR_RETURN(out.client.connections, PositiveParam(key, value, 1024));
          if (out.client.connections == 0) return BadUrl("connections must be at least 1");
        } else if (key == "retries") {
          AIFS_ASSIGN_OR_RETURN(out.client.retries, PositiveParam(key, value, 20));
        } else if (key == "timeout") {
          AIFS_ASSIGN_OR_RETURN(int s, PositiveParam(key, value, 3600));
          out.client.stall_timeout_s = std::max(1, s);
        } else if (key.find("secret") != std::string::npos ||
                   key.find("key") != std::string::npos || key.find("token") != std::string::npos) {
          return BadUrl("credentials never go in the URL (parameter '" + err::Echo(key) +
                        "'): use the environment or credentials=FILE");
        } else {
          return BadUrl("unknown parameter '" + err::Echo(key) + "'");
        }
        return Status::Ok();
      }));
  if (out.client.region.empty()) out.client.region = "us-east-1";
  if (!std::all_of(out.client.region.begin(), out.client.region.end(), UrlSafe))
    return BadUrl("region must be like us-east-1");
  if (out.client.endpoint.empty()) {
    out.client.endpoint = "https://s3." + out.client.region + ".amazonaws.com";
    if (addressing.empty()) addressing = "virtual";
  }
  while (out.client.endpoint.ends_with('/')) out.client.endpoint.pop_back();
  const std::string& e = out.client.endpoint;
  if (!(e.starts_with("http://") || e.starts_with("https://")) ||
      e.find('/', e.find("://") + 3) != std::string::npos || e.find('@') != std::string::npos ||
      e.find('?') != std::string::npos)
    return BadUrl("endpoint must be http(s)://host[:port], without a path or user");
  if (addressing.empty() || addressing == "path")
    out.client.virtual_host = false;
  else if (addressing == "virtual")
    out.client.virtual_host = true;
  else
    return BadUrl("addressing must be path or virtual");
  if (!std::all_of(out.prefix.begin(), out.prefix.end(),
                   [](char c) { return UrlSafe(c) || c == '/'; }))
    return BadUrl("prefix may hold only a-z A-Z 0-9 - _ . /");
  return out;
}

bool AuthFailure(const std::string& code) {
  return code == "SignatureDoesNotMatch" || code == "InvalidAccessKeyId" ||
         code == "InvalidToken" || code == "ExpiredToken" || code == "RequestTimeTooSkewed" ||
         code == "AuthorizationHeaderMalformed" || code == "InvalidSecurity";
}

}  // namespace

Status S3ChunkStore::Failure(const S3Response& r, const std::string& what) const {
  const std::string msg =
      "S3 " + client_->options().endpoint + " bucket " + bucket_ + ": " + what + ": HTTP " +
      std::to_string(r.status) + (r.error_code.empty() ? "" : " " + r.error_code) +
      (r.error_message.empty() ? "" : " (" + err::Echo(r.error_message, 200) + ")");
  const std::string& c = r.error_code;
  if (c == "NoSuchBucket") return err::NotFound("CHUNK_STORE_NOT_FOUND", msg);
  if (r.status == 404) return err::NotFound("CHUNK_MISSING", msg);
  if (AuthFailure(c) || r.status == 401)
    return Status(Code::kUnauthenticated, "S3_AUTH_FAILED", msg);
  if (r.status == 403) return err::PermissionDenied("CHUNK_STORE_DENIED", msg);
  if (r.status >= 500 || r.status == 429 || c == "SlowDown" || c == "RequestTimeout")
    return err::Unavailable("CHUNK_STORE_UNAVAILABLE", msg);
  if (c == "XAmzContentSHA256Mismatch" || c == "BadDigest")
    return err::DataLoss("S3_CHECKSUM_MISMATCH", msg);
  if (c == "InvalidBucketName") return err::InvalidArgument("BAD_CHUNK_STORE_URL", msg);
  return err::Internal("S3_REQUEST_FAILED", msg);
}

Result<std::unique_ptr<ChunkStore>> S3ChunkStore::Open(const std::string& url, bool create) {
  AIFS_ASSIGN_OR_RETURN(ParsedUrl p, ParseUrl(url));
  AIFS_ASSIGN_OR_RETURN(S3Credentials creds, LoadS3Credentials(p.credentials, p.profile));
  AIFS_RETURN_IF_ERROR(LoadCurl());
  auto client = std::make_unique<S3Client>(p.client, std::move(creds));
  std::unique_ptr<S3ChunkStore> store(
      new S3ChunkStore(url, std::move(p.bucket), std::move(p.prefix), std::move(client)));
  AIFS_RETURN_IF_ERROR(store->CheckBucket(create));
  return std::unique_ptr<ChunkStore>(std::move(store));
}

// A signed listing of one key: proves the credentials and the bucket.
Status S3ChunkStore::CheckBucket(bool create) {
  S3Request list{.method = "GET", .bucket = bucket_, .payload_sha256 = kEmptySha256};
  list.query = "list-type=2&max-keys=1";
  AIFS_ASSIGN_OR_RETURN(S3Response r, client_->Send(list, nullptr));
  if (r.status == 200) return Status::Ok();
  if (r.error_code != "NoSuchBucket" || !create) return Failure(r, "check bucket");
  S3Request make{.method = "PUT", .bucket = bucket_, .payload_sha256 = kEmptySha256};
  AIFS_ASSIGN_OR_RETURN(r, client_->Send(make, nullptr));
  if (r.status == 200 || r.error_code == "BucketAlreadyOwnedByYou") return Status::Ok();
  return Failure(r, "create bucket");
}

Result<std::string> S3ChunkStore::KeyFor(const std::string& name) const {
  if (!ValidName(name))
    return err::InvalidArgument("BAD_OBJECT_NAME",
                                "bad chunk object name '" + err::Echo(name) + "'");
  return prefix_ + name;
}

Status S3ChunkStore::PutWithHash(const std::string& name, ByteSpan data,
                                 const std::string& sha256_hex) {
  AIFS_ASSIGN_OR_RETURN(std::string key, KeyFor(name));
  S3Request put{
      .method = "PUT", .bucket = bucket_, .key = key, .body = data, .payload_sha256 = sha256_hex};
  AIFS_ASSIGN_OR_RETURN(S3Response r, client_->Send(put, nullptr));
  return r.status == 200 ? Status::Ok() : Failure(r, "put " + key);
}

Status S3ChunkStore::Put(const std::string& name, ByteSpan data) {
  return PutWithHash(name, data, Sha256Hex(data));
}

Status S3ChunkStore::PutClaimingSha256ForTest(const std::string& name, ByteSpan data,
                                              const std::string& sha256_hex) {
  return PutWithHash(name, data, sha256_hex);
}

Status S3ChunkStore::Get(const std::string& name, Bytes& out) {
  AIFS_ASSIGN_OR_RETURN(std::string key, KeyFor(name));
  S3Request get{.method = "GET", .bucket = bucket_, .key = key, .payload_sha256 = kEmptySha256};
  AIFS_ASSIGN_OR_RETURN(S3Response r, client_->Send(get, &out));
  if (r.status != 200) return Failure(r, "get " + key);
  if (r.content_length >= 0 && out.size() != static_cast<uint64_t>(r.content_length))
    return err::DataLoss("CHUNK_TRUNCATED", "S3 " + client_->options().endpoint + " bucket " +
                                                bucket_ + ": get " + key + " returned " +
                                                std::to_string(out.size()) + " of " +
                                                std::to_string(r.content_length) + " bytes");
  return Status::Ok();
}

Status S3ChunkStore::GetRange(const std::string& name, uint64_t offset, uint64_t length,
                              Bytes& out) {
  AIFS_ASSIGN_OR_RETURN(std::string key, KeyFor(name));
  const std::string what =
      "get " + key + " bytes " + std::to_string(offset) + "+" + std::to_string(length);
  auto truncated = [&] {
    return err::DataLoss("CHUNK_TRUNCATED", "chunk object " + name + " is shorter than " +
                                                std::to_string(offset + length) + " bytes");
  };
  S3Request get{.method = length == 0 ? "HEAD" : "GET",
                .bucket = bucket_,
                .key = key,
                .payload_sha256 = kEmptySha256};
  if (length > 0) get.range = std::to_string(offset) + "-" + std::to_string(offset + length - 1);
  AIFS_ASSIGN_OR_RETURN(S3Response r, client_->Send(get, &out));
  if (r.status == 416) return truncated();
  if (r.status != 200 && r.status != 206) return Failure(r, what);
  if (length == 0) {  // HEAD: the object exists; is it long enough?
    out.clear();
    return r.content_length >= 0 && static_cast<uint64_t>(r.content_length) < offset ? truncated()
                                                                                     : Status::Ok();
  }
  if (r.status == 200) {  // the server sent the whole object
    if (out.size() < offset || out.size() - offset < length) return truncated();
    out.erase(out.begin(), out.begin() + static_cast<ptrdiff_t>(offset));
    out.resize(length);
  }
  if (out.size() != length) return truncated();
  return Status::Ok();
}

Status S3ChunkStore::Delete(const std::string& name) {
  AIFS_ASSIGN_OR_RETURN(std::string key, KeyFor(name));
  S3Request del{.method = "DELETE", .bucket = bucket_, .key = key, .payload_sha256 = kEmptySha256};
  AIFS_ASSIGN_OR_RETURN(S3Response r, client_->Send(del, nullptr));
  if (r.status == 200 || r.status == 204 || r.error_code == "NoSuchKey") return Status::Ok();
  return Failure(r, "delete " + key);
}

Status S3ChunkStore::List(const std::function<bool(const std::string&, uint64_t)>& fn) {
  std::string token;
  Bytes page;
  do {
    // Parameters in sorted order, values encoded: curl 7.88 signs the query
    // string as given, and the server signs its canonical form.
    S3Request list{.method = "GET", .bucket = bucket_, .payload_sha256 = kEmptySha256};
    if (!token.empty()) list.query = "continuation-token=" + S3UriEncode(token) + "&";
    list.query += "list-type=2&max-keys=" + std::to_string(kListPage);
    if (!prefix_.empty()) list.query += "&prefix=" + S3UriEncode(prefix_);
    AIFS_ASSIGN_OR_RETURN(S3Response r, client_->Send(list, &page));
    if (r.status != 200) return Failure(r, "list");
    const std::string_view xml = AsChars(page);
    bool more = true;
    Status bad;
    ForEachXmlElement(xml, "Contents", [&](std::string_view item) {
      if (!more || !bad.ok()) return;
      const std::string key = XmlText(item, "Key").value_or("");
      const std::string size = XmlText(item, "Size").value_or("");
      char* end = nullptr;
      const unsigned long long n = std::strtoull(size.c_str(), &end, 10);
      if (size.empty() || *end) {
        bad = err::Internal("S3_REQUEST_FAILED", "S3 " + client_->options().endpoint + " bucket " +
                                                     bucket_ + ": list: no size for " +
                                                     err::Echo(key));
        return;
      }
      // Keys under the prefix that no Put of ours could have made are not ours.
      if (!key.starts_with(prefix_) || !ValidName(std::string_view(key).substr(prefix_.size())))
        return;
      more = fn(key.substr(prefix_.size()), n);
    });
    AIFS_RETURN_IF_ERROR(bad);
    if (!more || XmlText(xml, "IsTruncated").value_or("false") != "true") return Status::Ok();
    token = XmlText(xml, "NextContinuationToken").value_or("");
    if (token.empty())
      return err::Internal("S3_REQUEST_FAILED", "S3 " + client_->options().endpoint + " bucket " +
                                                    bucket_ +
                                                    ": list: truncated page without a token");
  } while (true);
}

}  // namespace aifs
