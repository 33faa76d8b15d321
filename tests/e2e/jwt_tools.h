#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

/// Just enough JOSE to forge and inspect tokens in the end-to-end suite (OpenSSL underneath).
namespace shop::e2e {

std::string Base64UrlEncode(std::string_view bytes);
/// nullopt for anything that is not unpadded base64url.
std::optional<std::string> Base64UrlDecode(std::string_view text);

/// The three dot-separated parts of a compact JWS, the first two decoded.
struct JwtParts {
  std::string header_json;
  std::string payload_json;
  std::string signature_b64;
  std::string signing_input;  ///< base64url(header) "." base64url(payload), as received
};
std::optional<JwtParts> SplitJwt(std::string_view token);

/// An Ed25519 key pair made here, unknown to the server (or handed to it with --signing-key).
class Ed25519Key {
 public:
  Ed25519Key();
  ~Ed25519Key();
  Ed25519Key(const Ed25519Key&) = delete;
  Ed25519Key& operator=(const Ed25519Key&) = delete;

  std::string public_raw() const;  ///< 32 bytes
  std::string PrivatePem() const;  ///< PKCS#8 PEM
  std::string Sign(std::string_view message) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// True when `signature` is a valid Ed25519 signature of `message` by the 32-byte public key.
bool VerifyEd25519(std::string_view public_raw, std::string_view message, std::string_view signature);
std::string HmacSha256(std::string_view key, std::string_view message);

/// base64url(header).base64url(payload).base64url(Sign(...)) with `key`.
std::string SignJwt(std::string_view header_json, std::string_view payload_json, const Ed25519Key& key);

}  // namespace shop::e2e
