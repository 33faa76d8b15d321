#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "shop/core/time.h"
#include "users_fixture.h"

namespace shop::users {
namespace {

using testing::FastOptions;
using testing::ServiceFixture;

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

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
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

TEST_CASE("Register stores a customer with the email trimmed and lower-cased and the name trimmed") {
  ServiceFixture f;
  const std::int64_t before = UnixNow();
  auto user = f.service->Register({"  Alice.Liddell@Example.COM \t", "correct horse", " \n Alice Liddell\u00A0 "});
  REQUIRE(user);
  CHECK(user->id > 0);
  CHECK(user->email == "alice.liddell@example.com");
  CHECK(user->name == "Alice Liddell");
  CHECK(user->role == Role::kCustomer);
  CHECK(IsRfc3339Utc(user->created_at));
  CHECK(user->created_at >= FormatRfc3339(before));

  auto stored = f.service->GetUser(Principal{user->id, Role::kCustomer}, user->id);
  REQUIRE(stored);
  CHECK(stored->email == user->email);
  CHECK(stored->name == user->name);
  CHECK(stored->role == Role::kCustomer);
  CHECK(stored->created_at == user->created_at);
}

TEST_CASE("Register accepts the limits of every rule") {
  ServiceFixture f;
  CHECK(f.service->Register({EmailOfLength(254), "12345678", "A"}));
  CHECK(f.service->Register({"b@example.com", Repeat("p", 128), Repeat("n", 100)}));
  // Lengths are counted in characters (code points), not bytes.
  CHECK(f.service->Register({"c@example.com", Repeat("\u00e9", 8), Repeat("\u00e9", 100)}));
  CHECK(f.service->Register({"d@example.com", Repeat("\u00e9", 128), Repeat("\U0001F600", 100)}));
  CHECK(f.service->Register({"e.f+tag@mail.example.co.uk", "correct horse", "O'Brien-Smith"}));
}

TEST_CASE("Register rejects every broken rule with validation_failed naming the field") {
  ServiceFixture f;
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
    auto result = f.service->Register(c.user);
    REQUIRE_FALSE(result);
    CHECK(result.error().code == Errc::kValidationFailed);
    CHECK(result.error().detail == c.detail);
  }
  // Nothing was written: the first valid registration gets the first id.
  CHECK(f.MustRegister("ann@example.com").id == 1);
}

TEST_CASE("Register refuses an email that is taken, whatever its case and surrounding space") {
  ServiceFixture f;
  const User first = f.MustRegister("bob@example.com");
  auto again = f.service->Register({"  BOB@Example.Com ", "another password", "Another Bob"});
  REQUIRE_FALSE(again);
  CHECK(again.error().code == Errc::kEmailTaken);
  CHECK(again.error().detail.starts_with("email:"));
  CHECK(f.CountEmail("bob@example.com") == 1);
  CHECK(f.service->GetUser(Principal{first.id, Role::kCustomer}, first.id)->name == "Test User");
}

TEST_CASE("Concurrent registrations of one email: exactly one wins, the others get email_taken") {
  ServiceFixture f;
  constexpr int kThreads = 4;
  std::atomic<int> created = 0;
  std::atomic<int> taken = 0;
  std::atomic<int> other = 0;
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      try {
        auto user = f.service->Register({"race@example.com", "correct horse", "Racer " + std::to_string(i)});
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
  CHECK(f.CountEmail("race@example.com") == 1);
}

TEST_CASE("IssueToken signs a token that a verifier holding only the public key accepts") {
  ServiceFixture f;
  const User carol = f.MustRegister("carol@example.com", "Carol", "carol's password");
  auto token = f.service->IssueToken(" Carol@EXAMPLE.com ", "carol's password");
  REQUIRE(token);
  CHECK(token->expires_in == 600);

  auth::Verifier verifier;
  verifier.SetKeys({f.key.public_key()});
  auto claims = verifier.VerifyClaims(token->token);
  REQUIRE(claims);
  CHECK(claims->principal.user_id == carol.id);
  CHECK(claims->principal.role == Role::kCustomer);
  CHECK(claims->expires_at - claims->issued_at == 600);
  CHECK(std::abs(claims->issued_at - UnixNow()) <= 5);

  auth::Verifier stranger;
  stranger.SetKeys({auth::SigningKey::Generate().public_key()});
  CHECK_FALSE(stranger.Verify(token->token));
}

TEST_CASE("A wrong password and an unknown email fail with the same error") {
  ServiceFixture f;
  f.MustRegister("dave@example.com", "Dave", "dave's password");
  auto wrong_password = f.service->IssueToken("dave@example.com", "not dave's password");
  auto unknown_email = f.service->IssueToken("nobody@example.com", "dave's password");
  auto malformed_email = f.service->IssueToken("not an email", "dave's password");
  auto empty = f.service->IssueToken("", "");
  for (const auto* result : {&wrong_password, &unknown_email, &malformed_email, &empty}) {
    REQUIRE_FALSE(*result);
    CHECK(result->error().code == Errc::kInvalidCredentials);
    CHECK(result->error().detail == wrong_password.error().detail);
  }
  CHECK_FALSE(wrong_password.error().detail.empty());
}

TEST_CASE("An unknown email costs a password verification, like a wrong password") {
  // Costly enough that skipping the hash would show; minimums over a few runs, since other load only
  // ever adds time. Without the decoy verification the unknown email answers about 1000x faster.
  ServiceOptions options = FastOptions();
  options.pwhash_ops = 2;
  options.pwhash_mem = 16 * 1024 * 1024;
  ServiceFixture f(options);
  f.MustRegister("erin@example.com", "Erin", "erin's password");
  auto fastest = [&](std::string_view email) {
    auto best = std::chrono::steady_clock::duration::max();
    for (int i = 0; i < 3; ++i) {
      const auto start = std::chrono::steady_clock::now();
      CHECK_FALSE(f.service->IssueToken(email, "not erin's password"));
      best = std::min(best, std::chrono::steady_clock::now() - start);
    }
    return best;
  };
  const auto wrong_password = fastest("erin@example.com");
  const auto unknown_email = fastest("nobody@example.com");
  const double wrong_password_ms = std::chrono::duration<double, std::milli>(wrong_password).count();
  const double unknown_email_ms = std::chrono::duration<double, std::milli>(unknown_email).count();
  CAPTURE(wrong_password_ms);
  CAPTURE(unknown_email_ms);
  CHECK(unknown_email * 4 > wrong_password);
  CHECK(wrong_password * 4 > unknown_email);
}

TEST_CASE("GetUser shows a user to that user and to admins only, and hides the rest as not found") {
  ServiceOptions options = FastOptions();
  options.admin_email = "root@shop.example";
  options.admin_password = "admin password";
  ServiceFixture f(options);
  const User frank = f.MustRegister("frank@example.com", "Frank");
  const User grace = f.MustRegister("grace@example.com", "Grace");
  const Principal as_frank{frank.id, Role::kCustomer};
  const Principal as_admin{999, Role::kAdmin};

  auto own = f.service->GetUser(as_frank, frank.id);
  REQUIRE(own);
  CHECK(own->email == "frank@example.com");

  auto others = f.service->GetUser(as_frank, grace.id);
  auto missing_as_self = f.service->GetUser(Principal{4242, Role::kCustomer}, 4242);
  auto missing_as_admin = f.service->GetUser(as_admin, 4242);
  for (const auto* result : {&others, &missing_as_self, &missing_as_admin}) {
    REQUIRE_FALSE(*result);
    CHECK(result->error().code == Errc::kNotFound);
    CHECK(result->error().detail == others.error().detail);
  }

  auto seen_by_admin = f.service->GetUser(as_admin, grace.id);
  REQUIRE(seen_by_admin);
  CHECK(seen_by_admin->name == "Grace");
}

TEST_CASE("The bootstrap admin is created once, with role admin") {
  ServiceOptions options = FastOptions();
  options.admin_email = "  Root@Shop.Example ";
  options.admin_password = "admin password";
  ServiceFixture f(options);
  CHECK(f.CountEmail("root@shop.example") == 1);

  auto token = f.service->IssueToken("root@shop.example", "admin password");
  REQUIRE(token);
  auth::Verifier verifier;
  verifier.SetKeys({f.key.public_key()});
  auto admin = verifier.Verify(token->token);
  REQUIRE(admin);
  CHECK(admin->role == Role::kAdmin);
  auto user = f.service->GetUser(*admin, admin->user_id);
  REQUIRE(user);
  CHECK(user->role == Role::kAdmin);
  CHECK(user->email == "root@shop.example");

  // A restart with the same settings (and even another password) changes nothing.
  options.admin_password = "a different password";
  auto again = MakeService(*f.db, f.key, options);
  CHECK(f.CountEmail("root@shop.example") == 1);
  CHECK(again->IssueToken("root@shop.example", "admin password"));
  CHECK_FALSE(again->IssueToken("root@shop.example", "a different password"));

  auto taken = f.service->Register({"ROOT@shop.example", "another password", "Mallory"});
  REQUIRE_FALSE(taken);
  CHECK(taken.error().code == Errc::kEmailTaken);
}

TEST_CASE("Registration always makes customers, and bootstrap never promotes an existing user") {
  ServiceFixture f;
  const User heidi = f.MustRegister("heidi@example.com", "Heidi", "heidi's password");
  CHECK(heidi.role == Role::kCustomer);

  ServiceOptions options = FastOptions();
  options.admin_email = "heidi@example.com";
  options.admin_password = "admin password";
  auto service = MakeService(*f.db, f.key, options);
  auto user = service->GetUser(Principal{heidi.id, Role::kCustomer}, heidi.id);
  REQUIRE(user);
  CHECK(user->role == Role::kCustomer);
  CHECK(service->IssueToken("heidi@example.com", "heidi's password"));
  CHECK_FALSE(service->IssueToken("heidi@example.com", "admin password"));
}

TEST_CASE("The bootstrap admin needs both settings, and rejects invalid ones") {
  ServiceFixture f;
  ServiceOptions only_email = FastOptions();
  only_email.admin_email = "root@shop.example";
  CHECK_NOTHROW(MakeService(*f.db, f.key, only_email));
  ServiceOptions only_password = FastOptions();
  only_password.admin_password = "admin password";
  CHECK_NOTHROW(MakeService(*f.db, f.key, only_password));
  CHECK(f.CountEmail("root@shop.example") == 0);

  ServiceOptions bad_email = FastOptions();
  bad_email.admin_email = "root";
  bad_email.admin_password = "admin password";
  CHECK_THROWS_WITH_AS(MakeService(*f.db, f.key, bad_email), doctest::Contains("email: must contain exactly one @"),
                       std::invalid_argument);
  ServiceOptions bad_password = FastOptions();
  bad_password.admin_email = "root@shop.example";
  bad_password.admin_password = "short";
  CHECK_THROWS_WITH_AS(MakeService(*f.db, f.key, bad_password), doctest::Contains("password: must be 8 to 128"),
                       std::invalid_argument);
  CHECK(f.CountEmail("root@shop.example") == 0);
  CHECK(f.CountEmail("root") == 0);
}

TEST_CASE("MakeService rejects argon2id costs libsodium cannot use and a non-positive token lifetime") {
  ServiceFixture f;
  ServiceOptions options = FastOptions();
  options.pwhash_mem = 4096;
  CHECK_THROWS_AS(MakeService(*f.db, f.key, options), std::invalid_argument);
  options = FastOptions();
  options.pwhash_ops = 0;
  CHECK_THROWS_AS(MakeService(*f.db, f.key, options), std::invalid_argument);
  options = FastOptions();
  options.token_ttl = std::chrono::seconds(0);
  CHECK_THROWS_AS(MakeService(*f.db, f.key, options), std::invalid_argument);
}

TEST_CASE("Passwords are stored only as salted argon2id hashes with the configured cost") {
  ServiceFixture f;
  const std::string password = "plain text secret";
  f.MustRegister("ivan@example.com", "Ivan", password);
  f.MustRegister("judy@example.com", "Judy", password);

  std::vector<std::string> hashes;
  auto stmt = f.db->ThisThread().Prepare("SELECT password_hash FROM users ORDER BY id");
  while (stmt.Step()) hashes.push_back(stmt.Text(0));
  REQUIRE(hashes.size() == 2);
  for (const std::string& hash : hashes) {
    CHECK(hash.starts_with("$argon2id$v=19$m=8,t=1,p=1$"));
    CHECK(hash.find(password) == std::string::npos);
  }
  CHECK(hashes[0] != hashes[1]);  // salted

  const std::string on_disk = ReadFile(f.dir / "users.db") + ReadFile(f.dir / "users.db-wal");
  CHECK(on_disk.find("ivan@example.com") != std::string::npos);  // the scan does see the rows
  CHECK(on_disk.find(password) == std::string::npos);
}

TEST_CASE("Jwks publishes the public half of the signing key") {
  ServiceFixture f;
  auto jwks = f.service->Jwks();
  REQUIRE(jwks);
  auto keys = auth::ParseJwks(*jwks);
  REQUIRE(keys);
  REQUIRE(keys->size() == 1);
  CHECK(keys->front().kid == f.key.public_key().kid);
  CHECK(keys->front().raw == f.key.public_key().raw);
}

}  // namespace
}  // namespace shop::users
