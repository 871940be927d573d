#include "aifs/kinds/kind_validator.h"

namespace aifs {

namespace {
// Until the typed kinds land, a typed put is refused rather than stored unchecked.
class RefuseValidator : public KindValidator {
 public:
  explicit RefuseValidator(AssetKind kind) : kind_(kind) {}
  Status Update(ByteSpan) override { return Refuse(); }
  Status Finish() override { return Refuse(); }

 private:
  Status Refuse() const {
    return err::Unimplemented("KIND_NOT_SUPPORTED",
                              std::string(KindName(kind_)) + " assets are not supported yet");
  }
  AssetKind kind_;
};
}  // namespace

std::unique_ptr<KindValidator> NewKindValidator(AssetKind kind) {
  if (kind == AssetKind::kBlob) return nullptr;
  return std::make_unique<RefuseValidator>(kind);
}

}  // namespace aifs
