// The in-process service beyond the users::Api contract (contract_test.cpp): what it stores in
// users.db, how it hashes, and its start-up options (bootstrap admin, costs, token lifetime).
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_database.h"
#include "users_fixture.h"

namespace shop::users {
namespace {

using testing::FastOptions;
using testing::ServiceFixture;

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST_CASE("Rejected and refused registrations write nothing") {
  ServiceFixture f;
  CHECK_FALSE(f.service->Register({"ann.example.com", "correct horse", "Ann"}));
  CHECK_FALSE(f.service->Register({"ann@example.com", "short", "Ann"}));
  CHECK_FALSE(f.service->Register({"ann@example.com", "correct horse", " "}));
  // The first valid registration gets the first id: nothing was written before it.
  CHECK(f.MustRegister("ann@example.com").id == 1);
  CHECK_FALSE(f.service->Register({" ANN@example.com", "another password", "Another Ann"}));
  CHECK(f.CountEmail("ann@example.com") == 1);
  const User bob = f.MustRegister("bob@example.com");
  auto rows = f.db->ThisThread().Prepare("SELECT count(*) FROM users");
  rows.Step();
  CHECK(rows.Int(0) == 2);
  // SQLite hands out the next rowid; a PostgreSQL sequence is not transactional, so the refused
  // duplicate used up an id there (a gap, nothing written).
  if (!shop::testing::OnPostgres()) CHECK(bob.id == 2);
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
  options.token_ttl = std::chrono::seconds(86401);  // verifiers refuse user tokens living over a day
  CHECK_THROWS_AS(MakeService(*f.db, f.key, options), std::invalid_argument);
  options = FastOptions();
  options.service_token_ttl = std::chrono::seconds(3601);
  CHECK_THROWS_AS(MakeService(*f.db, f.key, options), std::invalid_argument);
  const std::string secret(64, 'a');
  for (const std::vector<ClientCredentials>& clients : std::vector<std::vector<ClientCredentials>>{
           {{"Orders", secret}},                      // not a service name
           {{"orders", std::string(63, 'a')}},        // under 32 bytes of hex
           {{"orders", secret}, {"orders", secret}},  // twice
       }) {
    options = FastOptions();
    options.service_clients = clients;
    CHECK_THROWS_AS(MakeService(*f.db, f.key, options), std::invalid_argument);
  }
}

TEST_CASE("Service secrets hold at least 32 bytes: 64+ hex digits or 43+ base64url characters") {
  CHECK(IsServiceSecret(std::string(64, 'f')));
  CHECK(IsServiceSecret("0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789abcdef"));
  CHECK_FALSE(IsServiceSecret(std::string(63, 'f')));  // hex: 31.5 bytes
  CHECK(IsServiceSecret("Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF-_"));
  CHECK(IsServiceSecret(std::string(43, 'z')));
  CHECK_FALSE(IsServiceSecret(std::string(42, 'z')));
  CHECK_FALSE(IsServiceSecret(std::string(60, 'z') + "="));  // padding
  CHECK_FALSE(IsServiceSecret(std::string(60, 'z') + " "));
  CHECK_FALSE(IsServiceSecret(std::string(60, 'z') + "+/"));
  CHECK_FALSE(IsServiceSecret(std::string(513, 'z')));
  CHECK_FALSE(IsServiceSecret(""));
}

TEST_CASE("Service clients come from a directory of secret files named after each client") {
  shop::testing::TempDir dir;
  const std::string orders(64, 'a');
  const std::string gateway(43, 'Z');
  std::ofstream(dir / "orders") << orders << '\n';  // one trailing newline, as `echo` writes it
  std::ofstream(dir / "gateway") << gateway;
  std::ofstream(dir / ".gitkeep") << "";
  auto clients = LoadServiceClients(dir.path());
  REQUIRE(clients.size() == 2);
  CHECK(clients[0].client_id == "gateway");
  CHECK(clients[0].client_secret == gateway);
  CHECK(clients[1].client_id == "orders");
  CHECK(clients[1].client_secret == orders);

  ServiceOptions options = FastOptions();
  options.service_clients = clients;
  ServiceFixture f(options);
  CHECK(f.service->IssueServiceToken({"orders", orders}).has_value());
  CHECK_FALSE(f.service->IssueServiceToken({"orders", gateway}).has_value());

  {
    shop::testing::TempDir bad;
    std::ofstream(bad / "Orders") << orders;
    CHECK_THROWS_AS(LoadServiceClients(bad.path()), std::runtime_error);
  }
  {
    shop::testing::TempDir bad;
    std::ofstream(bad / "orders") << "change-me";
    CHECK_THROWS_AS(LoadServiceClients(bad.path()), std::runtime_error);
  }
  CHECK_THROWS_AS(LoadServiceClients(dir / "missing"), std::runtime_error);
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

  if (shop::testing::OnPostgres()) return;  // the server's files are its own; the rows are checked above
  const std::string on_disk = ReadFile(f.dir / "users.db") + ReadFile(f.dir / "users.db-wal");
  CHECK(on_disk.find("ivan@example.com") != std::string::npos);  // the scan does see the rows
  CHECK(on_disk.find(password) == std::string::npos);
}

}  // namespace
}  // namespace shop::users
