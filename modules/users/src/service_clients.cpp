#include "service_clients.h"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "shop/auth/token.h"
#include "shop/users/users.h"

namespace shop::users {

bool IsServiceSecret(std::string_view secret) {
  auto in = [&](auto predicate) { return std::ranges::all_of(secret, predicate); };
  const bool hex =
      in([](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); });
  const bool base64url = in([](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
  if (secret.size() > 512) return false;
  // 32 bytes are 64 hex digits or 43 base64url characters.
  return hex ? secret.size() >= 64 : base64url && secret.size() >= 43;
}

std::vector<ClientCredentials> LoadServiceClients(const std::filesystem::path& dir) {
  std::vector<ClientCredentials> clients;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) throw std::runtime_error("cannot read service credentials directory " + dir.string() + ": " + ec.message());
  for (const auto& entry : it) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with('.')) continue;
    if (!auth::IsServiceName(name)) {
      throw std::runtime_error("service credentials: " + entry.path().string() +
                               ": the file name must be a service name (1..64 of [a-z0-9-], starting with a letter)");
    }
    std::ifstream file(entry.path(), std::ios::binary);
    std::string secret((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    if (!file.good() && !file.eof()) throw std::runtime_error("cannot read " + entry.path().string());
    if (secret.ends_with('\n')) secret.pop_back();
    if (!IsServiceSecret(secret)) {
      throw std::runtime_error("service credentials: " + entry.path().string() +
                               ": the secret must be at least 32 random bytes as 64+ hex digits or 43+ base64url "
                               "characters");
    }
    clients.push_back({name, std::move(secret)});
  }
  std::ranges::sort(clients, {}, &ClientCredentials::client_id);
  return clients;
}

ServiceClients::ServiceClients(const std::vector<ClientCredentials>& clients) {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
  for (const ClientCredentials& client : clients) {
    if (!auth::IsServiceName(client.client_id)) {
      throw std::invalid_argument("service client id is not a service name: " + client.client_id);
    }
    if (!IsServiceSecret(client.client_secret)) {
      throw std::invalid_argument("service client " + client.client_id + " has a secret shorter than 32 bytes");
    }
    if (std::ranges::any_of(entries_, [&](const Entry& e) { return e.id == client.client_id; })) {
      throw std::invalid_argument("service client " + client.client_id + " is registered twice");
    }
    entries_.push_back({client.client_id, DigestOf(client.client_secret)});
  }
  randombytes_buf(decoy_.data(), decoy_.size());
}

ServiceClients::Digest ServiceClients::DigestOf(std::string_view secret) {
  Digest digest;
  crypto_hash_sha256(digest.data(), reinterpret_cast<const unsigned char*>(secret.data()), secret.size());
  return digest;
}

bool ServiceClients::Authenticate(const ClientCredentials& client) const {
  const Digest presented = DigestOf(client.client_secret);
  const Digest* expected = &decoy_;
  for (const Entry& entry : entries_) {
    if (entry.id == client.client_id) expected = &entry.secret_digest;
  }
  // Digests of equal length, compared in constant time: the time says nothing about the secret.
  const bool secret_matches = sodium_memcmp(presented.data(), expected->data(), presented.size()) == 0;
  return secret_matches && expected != &decoy_;
}

}  // namespace shop::users
