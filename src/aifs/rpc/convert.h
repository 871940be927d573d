// Translation between the aifs::Api value types and the aifs.v1 messages,
// used by both the server and the client so the two cannot drift apart.
// Parsing a message checks what the types promise (ID lengths, enum ranges)
// and answers INVALID_ARGUMENT with a stable reason otherwise.
#pragma once

#include "aifs/api/aggregate_query.h"
#include "aifs/api/types.h"
#include "aifs/v1/aifs.pb.h"

namespace aifs::rpc {

std::string Raw(ByteSpan bytes);
Result<AssetId> ParseAssetId(const std::string& bytes);       // BAD_ASSET_ID
Result<SnapshotId> ParseSnapshotId(const std::string& bytes); // BAD_SNAPSHOT_ID
Result<AssetKind> ParseKind(v1::AssetKind kind, bool unspecified_is_blob);

void ToProto(const NamespaceInfo& in, v1::Namespace* out);
Result<NamespaceInfo> FromProto(const v1::Namespace& in);

void ToProto(const AssetInfo& in, v1::Asset* out);
Result<AssetInfo> FromProto(const v1::Asset& in);

void ToProto(const PutOptions& in, v1::PutHeader* out);
Result<PutOptions> FromProto(const v1::PutHeader& in);
void ToProto(const PutResult& in, v1::PutAssetResponse* out);
Result<PutResult> FromProto(const v1::PutAssetResponse& in);

void ToProto(const ListOptions& in, v1::ListAssetsRequest* out);
Result<ListOptions> FromProto(const v1::ListAssetsRequest& in);

void ToProto(const LineageGraph& in, v1::GetLineageResponse* out);
Result<LineageGraph> FromProto(const v1::GetLineageResponse& in);

void ToProto(const SnapshotInfo& in, v1::Snapshot* out);
Result<SnapshotInfo> FromProto(const v1::Snapshot& in);
void ToProto(const SnapshotProof& in, v1::Proof* out);
Result<SnapshotProof> FromProto(const v1::Proof& in);
void ToProto(const SnapshotDiff& in, v1::DiffSnapshotsResponse* out);
void ToProto(const MergeOptions& in, v1::MergeRequest* out);
MergeOptions FromProto(const v1::MergeRequest& in);
void ToProto(const MergeReport& in, v1::MergeResponse* out);
Result<MergeReport> FromProto(const v1::MergeResponse& in);
Result<SnapshotDiff> FromProto(const v1::DiffSnapshotsResponse& in);

void ToProto(const BranchInfo& in, v1::Branch* out);
Result<BranchInfo> FromProto(const v1::Branch& in);
void ToProto(const BranchMoveInfo& in, v1::BranchMove* out);
Result<BranchMoveInfo> FromProto(const v1::BranchMove& in);
void ToProto(const TagInfo& in, v1::Tag* out);
Result<TagInfo> FromProto(const v1::Tag& in);

void ToProto(const Event& in, v1::Event* out);
Result<Event> FromProto(const v1::Event& in);
void ToProto(const EventQuery& in, v1::SubscribeEventsRequest* out);
Result<EventQuery> FromProto(const v1::SubscribeEventsRequest& in);

void ToProto(const NamespacePolicy& in, v1::NamespacePolicy* out);
NamespacePolicy FromProto(const v1::NamespacePolicy& in);
void ToProto(const PruneOptions& in, v1::PruneSnapshotsRequest* out);
PruneOptions FromProto(const v1::PruneSnapshotsRequest& in);
void ToProto(const PruneReport& in, v1::PruneSnapshotsResponse* out);
Result<PruneReport> FromProto(const v1::PruneSnapshotsResponse& in);

void ToProto(const FormatStep& in, v1::FormatStep* out);
FormatStep FromProto(const v1::FormatStep& in);
void ToProto(const FormatReport& in, v1::FormatReport* out);
Result<FormatReport> FromProto(const v1::FormatReport& in);

void ToProto(const EmbeddingSpace& in, v1::EmbeddingSpace* out);
Result<EmbeddingSpace> FromProto(const v1::EmbeddingSpace& in);
void ToProto(const VectorQuery& in, v1::VectorSearchRequest* out);
Result<VectorQuery> FromProto(const v1::VectorSearchRequest& in);
void ToProto(const VectorResult& in, v1::VectorSearchResponse* out);
Result<VectorResult> FromProto(const v1::VectorSearchResponse& in);
void ToProto(const PendingEmbedding& in, v1::PendingEmbedding* out);
Result<PendingEmbedding> FromProto(const v1::PendingEmbedding& in);
void ToProto(const EmbeddingReview& in, v1::ReviewEmbeddingsRequest* out);
Result<EmbeddingReview> FromProto(const v1::ReviewEmbeddingsRequest& in);

void ToProto(const PrivacyPolicy& in, v1::PrivacyPolicy* out);
PrivacyPolicy FromProto(const v1::PrivacyPolicy& in);
void ToProto(const AggregateQuery& in, v1::AggregateRequest* out);
Result<AggregateQuery> FromProto(const v1::AggregateRequest& in);
void ToProto(const AggregateAnswer& in, v1::AggregateResponse* out);
AggregateAnswer FromProto(const v1::AggregateResponse& in);
void ToProto(const PrivacyLedgerView& in, v1::PrivacyLedger* out);
PrivacyLedgerView FromProto(const v1::PrivacyLedger& in);

void ToProto(const GcReport& in, v1::CollectGarbageResponse* out);
GcReport FromProto(const v1::CollectGarbageResponse& in);
void ToProto(const MetadataCheck& in, v1::CheckMetadataResponse* out);
MetadataCheck FromProto(const v1::CheckMetadataResponse& in);
void ToProto(const BackupReport& in, v1::BackupResponse* out);
BackupReport FromProto(const v1::BackupResponse& in);
void ToProto(const RewrapReport& in, v1::RewrapKeysResponse* out);
RewrapReport FromProto(const v1::RewrapKeysResponse& in);
void ToProto(const TokenKeyring& in, v1::ListTokenKeysResponse* out);
TokenKeyring FromProto(const v1::ListTokenKeysResponse& in);
void ToProto(const StoreDescription& in, v1::StoreInfo* out);
StoreDescription FromProto(const v1::StoreInfo& in);

}  // namespace aifs::rpc
