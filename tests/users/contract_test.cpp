// The contract of users::Api, written once and run against every implementation of it: the
// in-process service and, in split builds, the HTTP client talking to a real shop-users process.
// A fixture provides `Api& api()` and `const auth::SigningKey& key()` (the key the implementation
// signs with), and bootstraps the admin kAdminEmail / kAdminPassword; tokens live 600 s.
// Principals carry the credential (token) they were established with, as the HTTP adapters make them.

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "shop/core/time.h"
#include "users_fixture.h"

#if SHOP_SPLIT_TESTS
#include "service_process.h"
#include "shop/users/remote.h"
#endif

namespace {

using shop::Principal;
using shop::Role;
using shop::UnixNow;
using shop::auth::SigningKey;
using shop::users::AccessToken;
using shop::users::Api;
using shop::users::Errc;
using shop::users::NewUser;
using shop::users::User;
using shop::users::testing::Detail;
using shop::users::testing::Outcome;

constexpr std::string_view kAdminEmail = "root@shop.example";
constexpr std::string_view kAdminPassword = "admin password";
constexpr std::int64_t kTokenTtl = 600;
// The one service client every fixture registers, and its secret (32 random bytes, hex).
constexpr std::string_view kClientId = "orders";
constexpr std::string_view kClientSecret = "5f1c0e8a9b7d6c4e3a2b1908f7e6d5c4b3a29180f7e6d5c4b3a291807f6e5d4c";

/// The in-process service over a fresh users.db.
class InProcessFixture {
 public:
  InProcessFixture() : service_(Options()) {}

  Api& api() { return *service_.service; }
  const SigningKey& key() const { return service_.key; }

 private:
  static shop::users::ServiceOptions Options() {
    shop::users::ServiceOptions options = shop::users::testing::FastOptions();
    options.admin_email = kAdminEmail;
    options.admin_password = kAdminPassword;
    options.service_clients = {{std::string(kClientId), std::string(kClientSecret)}};
    return options;
  }

  shop::users::testing::ServiceFixture service_;
};

#if SHOP_SPLIT_TESTS
/// The HTTP client against a shop-users process of its own, with a signing key the test holds too.
class HttpFixture {
 public:
  HttpFixture()
      : key_(SigningKey::LoadOrCreate(dir_ / "jwt-ed25519.pem")),
        clients_(WriteClients(dir_ / "service-clients")),
        process_({.binary = shop::testing::ServiceProcess::BinDir() / "shop-users",
                  .args = {"--port", "{port}", "--data-dir", (dir_ / "data").string(), "--signing-key",
                           (dir_ / "jwt-ed25519.pem").string(), "--token-ttl", std::to_string(kTokenTtl),
                           "--service-credentials-dir", clients_.string()},
                  .env = {{"SHOP_ADMIN_EMAIL", std::string(kAdminEmail)},
                          {"SHOP_ADMIN_PASSWORD", std::string(kAdminPassword)}},
                  .log_file = dir_ / "shop-users.log"}) {
    process_.Start();
    api_ = shop::users::MakeHttpClient({.name = "users", .base_url = process_.url()});
  }

  Api& api() { return *api_; }
  const SigningKey& key() const { return key_; }

 private:
  /// The service clients directory, Docker-secrets style: a file per client holding its secret.
  static std::filesystem::path WriteClients(const std::filesystem::path& dir) {
    std::filesystem::create_directories(dir);
    std::ofstream(dir / kClientId) << kClientSecret << '\n';
    return dir;
  }

  shop::testing::TempDir dir_;
  SigningKey key_;
  std::filesystem::path clients_;
  shop::testing::ServiceProcess process_;
  std::unique_ptr<Api> api_;
};
#endif

/// A token for these credentials, which must be accepted.
AccessToken MustIssue(Api& api, std::string_view email, std::string_view password) {
  auto token = api.IssueToken(email, password);
  REQUIRE_MESSAGE(token.has_value(), Detail(token));
  return *token;
}

/// The caller these credentials sign in as, carrying the token as its credential.
template <class Fixture>
Principal SignIn(Fixture& f, std::string_view email, std::string_view password) {
  const AccessToken token = MustIssue(f.api(), email, password);
  shop::auth::Verifier verifier;
  verifier.SetKeys({f.key().public_key()});
  auto principal = verifier.Verify(token.token);
  REQUIRE(principal.has_value());
  principal->credential = token.token;
  return *principal;
}

/// A caller signed by the implementation's key without asking it: for users that do not exist.
template <class Fixture>
Principal Forge(Fixture& f, std::int64_t user_id, Role role) {
  Principal principal{user_id, role, {}};
  const std::int64_t now = UnixNow();
  principal.credential = f.key().Sign(shop::auth::Claims{principal, now, now + kTokenTtl});
  return principal;
}

User MustRegister(Api& api, std::string email, std::string name = "Test User", std::string password = "correct horse") {
  auto user = api.Register(NewUser{std::move(email), std::move(password), std::move(name)});
  REQUIRE_MESSAGE(user.has_value(), Detail(user));
  return *user;
}

std::string Repeat(std::string_view unit, std::size_t times) {
  std::string out;
  for (std::size_t i = 0; i < times; ++i) out += unit;
  return out;
}

/// An email of exactly `length` characters.
std::string EmailOfLength(std::size_t length) {
  const std::string domain = "@example.com";
  return Repeat("a", length - domain.size()) + domain;
}

bool IsRfc3339Utc(std::string_view t) {
  if (t.size() != 20 || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' || t[16] != ':' || t[19] != 'Z') {
    return false;
  }
  for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18}) {
    if (t[i] < '0' || t[i] > '9') return false;
  }
  return true;
}

}  // namespace

DOCTEST_TYPE_TO_STRING(InProcessFixture);
#if SHOP_SPLIT_TESTS
DOCTEST_TYPE_TO_STRING(HttpFixture);
#endif

TEST_CASE_TEMPLATE_DEFINE("users contract: Register stores a customer, email trimmed and lower-cased, name trimmed",
                          Fixture, contract_register) {
  Fixture f;
  const std::int64_t before = UnixNow();
  auto user = f.api().Register({"  Alice.Liddell@Example.COM \t", "correct horse", " \n Alice Liddell\u00A0 "});
  REQUIRE_MESSAGE(user.has_value(), Detail(user));
  CHECK(user->id > 0);
  CHECK(user->email == "alice.liddell@example.com");
  CHECK(user->name == "Alice Liddell");
  CHECK(user->role == Role::kCustomer);
  CHECK(IsRfc3339Utc(user->created_at));
  CHECK(user->created_at >= shop::FormatRfc3339(before));

  const Principal alice = SignIn(f, "alice.liddell@example.com", "correct horse");
  CHECK(alice.user_id == user->id);
  CHECK(alice.role == Role::kCustomer);
  auto stored = f.api().GetUser(alice, user->id);
  REQUIRE_MESSAGE(stored.has_value(), Detail(stored));
  CHECK(stored->id == user->id);
  CHECK(stored->email == user->email);
  CHECK(stored->name == user->name);
  CHECK(stored->role == Role::kCustomer);
  CHECK(stored->created_at == user->created_at);
}

TEST_CASE_TEMPLATE_DEFINE("users contract: Register accepts the limits of every rule", Fixture, contract_limits) {
  Fixture f;
  Api& api = f.api();
  CHECK(Outcome(api.Register({EmailOfLength(254), "12345678", "A"})) == "ok");
  CHECK(Outcome(api.Register({"b@example.com", Repeat("p", 128), Repeat("n", 100)})) == "ok");
  // Lengths are counted in characters (code points), not bytes.
  CHECK(Outcome(api.Register({"c@example.com", Repeat("\u00e9", 8), Repeat("\u00e9", 100)})) == "ok");
  CHECK(Outcome(api.Register({"d@example.com", Repeat("\u00e9", 128), Repeat("\U0001F600", 100)})) == "ok");
  CHECK(Outcome(api.Register({"e.f+tag@mail.example.co.uk", "correct horse", "O'Brien-Smith"})) == "ok");
}

TEST_CASE_TEMPLATE_DEFINE("users contract: Register rejects every broken rule with validation_failed naming the field",
                          Fixture, contract_register_invalid) {
  Fixture f;
  struct Case {
    NewUser user;
    std::string detail;
  };
  const std::string ok_password = "correct horse";
  const std::vector<Case> cases = {
      {{"", ok_password, "Ann"}, "email: must not be empty"},
      {{"   ", ok_password, "Ann"}, "email: must not be empty"},
      {{"ann.example.com", ok_password, "Ann"}, "email: must contain exactly one @"},
      {{"ann@b@example.com", ok_password, "Ann"}, "email: must contain exactly one @"},
      {{"@example.com", ok_password, "Ann"}, "email: must have a non-empty part before the @"},
      {{"ann@localhost", ok_password, "Ann"},
       "email: the part after the @ must contain a dot, not at its start or end"},
      {{"ann@", ok_password, "Ann"}, "email: the part after the @ must contain a dot, not at its start or end"},
      {{"ann@.example.com", ok_password, "Ann"},
       "email: the part after the @ must contain a dot, not at its start or end"},
      {{"ann@example.com.", ok_password, "Ann"},
       "email: the part after the @ must contain a dot, not at its start or end"},
      {{"a nn@example.com", ok_password, "Ann"}, "email: must not contain whitespace or control characters"},
      {{"ann@exa\tmple.com", ok_password, "Ann"}, "email: must not contain whitespace or control characters"},
      {{"an\x01n@example.com", ok_password, "Ann"}, "email: must not contain whitespace or control characters"},
      {{"ann\u00A0x@example.com", ok_password, "Ann"}, "email: must not contain whitespace or control characters"},
      {{EmailOfLength(255), ok_password, "Ann"}, "email: must be at most 254 characters"},
      {{"\xff@example.com", ok_password, "Ann"}, "email: must be valid UTF-8"},
      {{"ann@example.com", "", "Ann"}, "password: must be 8 to 128 characters"},
      {{"ann@example.com", "1234567", "Ann"}, "password: must be 8 to 128 characters"},
      {{"ann@example.com", Repeat("p", 129), "Ann"}, "password: must be 8 to 128 characters"},
      // 14 bytes but 7 characters.
      {{"ann@example.com", Repeat("\u00e9", 7), "Ann"}, "password: must be 8 to 128 characters"},
      {{"ann@example.com",
        "\xc3\x28"
        "abcdefgh",
        "Ann"},
       "password: must be valid UTF-8"},
      {{"ann@example.com", ok_password, ""}, "name: must be 1 to 100 characters after trimming"},
      {{"ann@example.com", ok_password, " \t\u3000 "}, "name: must be 1 to 100 characters after trimming"},
      {{"ann@example.com", ok_password, Repeat("n", 101)}, "name: must be 1 to 100 characters after trimming"},
      {{"ann@example.com", ok_password, Repeat("\u00e9", 101)}, "name: must be 1 to 100 characters after trimming"},
      {{"ann@example.com", ok_password, "Ann\nSmith"}, "name: must not contain control characters"},
      {{"ann@example.com", ok_password, "Ann\x7f"}, "name: must not contain control characters"},
      {{"ann@example.com", ok_password, "Ann\u0085Smith"}, "name: must not contain control characters"},
      {{"ann@example.com", ok_password, "Ann\xc3"}, "name: must be valid UTF-8"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.user.email);
    CAPTURE(c.user.password);
    CAPTURE(c.user.name);
    auto result = f.api().Register(c.user);
    REQUIRE(Outcome(result) == "validation_failed");
    CHECK(result.error().detail == c.detail);
  }
  // None of them took the email.
  CHECK(MustRegister(f.api(), "ann@example.com").email == "ann@example.com");
}

TEST_CASE_TEMPLATE_DEFINE("users contract: Register refuses a taken email, whatever its case and surrounding space",
                          Fixture, contract_email_taken) {
  Fixture f;
  const User first = MustRegister(f.api(), "bob@example.com");
  auto again = f.api().Register({"  BOB@Example.Com ", "another password", "Another Bob"});
  REQUIRE(Outcome(again) == "email_taken");
  CHECK(again.error().detail.starts_with("email:"));
  // The first registration stands: its password, its name.
  CHECK(Outcome(f.api().IssueToken("bob@example.com", "another password")) == "invalid_credentials");
  auto stored = f.api().GetUser(SignIn(f, "bob@example.com", "correct horse"), first.id);
  REQUIRE_MESSAGE(stored.has_value(), Detail(stored));
  CHECK(stored->name == "Test User");
}

TEST_CASE_TEMPLATE_DEFINE("users contract: concurrent registrations of one email: one wins, the others get email_taken",
                          Fixture, contract_register_race) {
  Fixture f;
  constexpr int kThreads = 4;
  std::atomic<int> created = 0;
  std::atomic<int> taken = 0;
  std::atomic<int> other = 0;
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      try {
        auto user = f.api().Register({"race@example.com", "correct horse", "Racer " + std::to_string(i)});
        if (user) {
          ++created;
        } else if (user.error().code == Errc::kEmailTaken) {
          ++taken;
        } else {
          ++other;
        }
      } catch (...) {
        ++other;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(created == 1);
  CHECK(taken == kThreads - 1);
  CHECK(other == 0);
}

TEST_CASE_TEMPLATE_DEFINE(
    "users contract: IssueToken signs a token that a verifier holding only the public key accepts", Fixture,
    contract_issue_token) {
  Fixture f;
  const User carol = MustRegister(f.api(), "carol@example.com", "Carol", "carol's password");
  const AccessToken token = MustIssue(f.api(), " Carol@EXAMPLE.com ", "carol's password");
  CHECK(token.expires_in == kTokenTtl);

  shop::auth::Verifier verifier;
  verifier.SetKeys({f.key().public_key()});
  auto claims = verifier.VerifyClaims(token.token);
  REQUIRE(claims.has_value());
  CHECK(claims->principal.user_id == carol.id);
  CHECK(claims->principal.role == Role::kCustomer);
  CHECK(claims->expires_at - claims->issued_at == kTokenTtl);
  CHECK(std::abs(claims->issued_at - UnixNow()) <= 5);

  shop::auth::Verifier stranger;
  stranger.SetKeys({SigningKey::Generate().public_key()});
  CHECK_FALSE(stranger.Verify(token.token).has_value());

  // The bootstrap admin signs in as an admin.
  CHECK(SignIn(f, kAdminEmail, kAdminPassword).role == Role::kAdmin);
}

TEST_CASE_TEMPLATE_DEFINE("users contract: a wrong password and an unknown email fail with the same error", Fixture,
                          contract_invalid_credentials) {
  Fixture f;
  MustRegister(f.api(), "dave@example.com", "Dave", "dave's password");
  auto wrong_password = f.api().IssueToken("dave@example.com", "not dave's password");
  auto unknown_email = f.api().IssueToken("nobody@example.com", "dave's password");
  auto malformed_email = f.api().IssueToken("not an email", "dave's password");
  auto empty = f.api().IssueToken("", "");
  auto not_utf8 = f.api().IssueToken("dave@example.com", "dave's password\xff");
  for (const auto* result : {&wrong_password, &unknown_email, &malformed_email, &empty, &not_utf8}) {
    REQUIRE(Outcome(*result) == "invalid_credentials");
    CHECK(result->error().detail == wrong_password.error().detail);
  }
  CHECK_FALSE(wrong_password.error().detail.empty());
}

TEST_CASE_TEMPLATE_DEFINE("users contract: GetUser shows a user to that user and to admins, and hides the rest",
                          Fixture, contract_get_user) {
  Fixture f;
  const User frank = MustRegister(f.api(), "frank@example.com", "Frank");
  const User grace = MustRegister(f.api(), "grace@example.com", "Grace");
  const Principal as_frank = SignIn(f, "frank@example.com", "correct horse");
  const Principal as_admin = SignIn(f, kAdminEmail, kAdminPassword);

  auto own = f.api().GetUser(as_frank, frank.id);
  REQUIRE_MESSAGE(own.has_value(), Detail(own));
  CHECK(own->email == "frank@example.com");

  auto others = f.api().GetUser(as_frank, grace.id);
  auto missing_as_self = f.api().GetUser(Forge(f, 4242, Role::kCustomer), 4242);
  auto missing_as_admin = f.api().GetUser(as_admin, 4242);
  auto not_an_id = f.api().GetUser(as_admin, 0);
  for (const auto* result : {&others, &missing_as_self, &missing_as_admin, &not_an_id}) {
    REQUIRE(Outcome(*result) == "not_found");
    CHECK(result->error().detail == others.error().detail);
  }

  auto seen_by_admin = f.api().GetUser(as_admin, grace.id);
  REQUIRE_MESSAGE(seen_by_admin.has_value(), Detail(seen_by_admin));
  CHECK(seen_by_admin->name == "Grace");
  CHECK(seen_by_admin->email == "grace@example.com");
  CHECK(seen_by_admin->created_at == grace.created_at);
  auto admin_self = f.api().GetUser(as_admin, as_admin.user_id);
  REQUIRE_MESSAGE(admin_self.has_value(), Detail(admin_self));
  CHECK(admin_self->role == Role::kAdmin);
  CHECK(admin_self->email == kAdminEmail);
}

TEST_CASE_TEMPLATE_DEFINE("users contract: Jwks publishes the key that verifies issued tokens", Fixture,
                          contract_jwks) {
  Fixture f;
  const User erin = MustRegister(f.api(), "erin@example.com", "Erin");
  const AccessToken token = MustIssue(f.api(), "erin@example.com", "correct horse");

  auto jwks = f.api().Jwks();
  REQUIRE_MESSAGE(jwks.has_value(), Detail(jwks));
  auto keys = shop::auth::ParseJwks(*jwks);
  REQUIRE(keys.has_value());
  REQUIRE(keys->size() == 1);
  CHECK(keys->front().kid == f.key().public_key().kid);
  CHECK(keys->front().raw == f.key().public_key().raw);

  shop::auth::Verifier verifier;
  verifier.SetKeys(*keys);
  auto principal = verifier.Verify(token.token);
  REQUIRE(principal.has_value());
  CHECK(principal->user_id == erin.id);
}

TEST_CASE_TEMPLATE_DEFINE(
    "users contract: IssueServiceToken gives a registered client a short service token, anything else is refused alike",
    Fixture, contract_service_token) {
  Fixture f;
  const std::int64_t before = UnixNow();
  auto token = f.api().IssueServiceToken({std::string(kClientId), std::string(kClientSecret)});
  REQUIRE_MESSAGE(token.has_value(), Detail(token));
  CHECK(token->expires_in == 300);
  shop::auth::Verifier verifier;
  verifier.SetKeys({f.key().public_key()});
  auto identity = verifier.VerifyService(token->token);
  REQUIRE(identity.has_value());
  CHECK(identity->service == kClientId);
  CHECK(identity->issued_at >= before);
  CHECK(identity->expires_at - identity->issued_at == 300);
  // A service token is no user token.
  CHECK(verifier.Verify(token->token).error() == shop::auth::VerifyError::kWrongType);

  std::string wrong_secret(kClientSecret);
  wrong_secret.back() = wrong_secret.back() == '0' ? '1' : '0';
  const shop::users::ClientCredentials refused[] = {
      {std::string(kClientId), wrong_secret},
      {std::string(kClientId), ""},
      {std::string(kClientId), std::string(kClientSecret) + "0"},
      {"payments", std::string(kClientSecret)},  // not registered
      {"", std::string(kClientSecret)},
      {"ORDERS", std::string(kClientSecret)},
      {"orders:x", std::string(kClientSecret)},
  };
  std::string first_detail;
  for (const auto& client : refused) {
    CAPTURE(client.client_id);
    CAPTURE(client.client_secret);
    auto r = f.api().IssueServiceToken(client);
    CHECK(Outcome(r) == "unauthenticated");
    if (first_detail.empty()) first_detail = Detail(r);
    CHECK(Detail(r) == first_detail);  // unknown client and wrong secret look the same
  }
}

/// Every implementation of users::Api; each must pass every case above.
#if SHOP_SPLIT_TESTS
using ContractFixtures = std::tuple<InProcessFixture, HttpFixture>;
#else
using ContractFixtures = std::tuple<InProcessFixture>;
#endif

TEST_CASE_TEMPLATE_APPLY(contract_register, ContractFixtures);
TEST_CASE_TEMPLATE_APPLY(contract_limits, ContractFixtures);
TEST_CASE_TEMPLATE_APPLY(contract_register_invalid, ContractFixtures);
TEST_CASE_TEMPLATE_APPLY(contract_email_taken, ContractFixtures);
TEST_CASE_TEMPLATE_APPLY(contract_register_race, ContractFixtures);
TEST_CASE_TEMPLATE_APPLY(contract_issue_token, ContractFixtures);
TEST_CASE_TEMPLATE_APPLY(contract_invalid_credentials, ContractFixtures);
TEST_CASE_TEMPLATE_APPLY(contract_get_user, ContractFixtures);
TEST_CASE_TEMPLATE_APPLY(contract_jwks, ContractFixtures);
TEST_CASE_TEMPLATE_APPLY(contract_service_token, ContractFixtures);
