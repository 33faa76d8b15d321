// The verified-token cache of auth::Verifier: a token is verified in full once, and the cache never
// answers for a token it did not verify, after the token's `exp`, or after the keys changed.
#include <doctest/doctest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "shop/auth/token.h"
#include "shop/core/time.h"

namespace {

using shop::Principal;
using shop::Role;
using shop::auth::Claims;
using shop::auth::ServiceIdentity;
using shop::auth::SigningKey;
using shop::auth::Verifier;
using shop::auth::VerifyError;

/// A clock the test moves by hand.
struct FakeClock {
  std::atomic<std::int64_t> now{shop::UnixNow()};
  Verifier::Options Options(std::size_t capacity = 1000) {
    return Verifier::Options{.cache_capacity = capacity, .clock = [this] { return now.load(); }};
  }
};

std::string TokenFor(const SigningKey& key, std::int64_t user, std::int64_t now, std::int64_t lifetime = 600,
                     Role role = Role::kCustomer) {
  return key.Sign(Claims{Principal{user, role}, now, now + lifetime});
}

constexpr std::string_view kBase64Url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

}  // namespace

TEST_CASE("a token is verified in full once; later calls with it are answered from the cache") {
  SigningKey key = SigningKey::Generate();
  FakeClock clock;
  Verifier verifier(clock.Options());
  verifier.SetKeys({key.public_key()});
  const std::string token = TokenFor(key, 7, clock.now, 600, Role::kAdmin);

  for (int i = 0; i < 3; ++i) {
    auto principal = verifier.Verify(token);
    REQUIRE(principal.has_value());
    CHECK(principal->user_id == 7);
    CHECK(principal->role == Role::kAdmin);
  }
  auto claims = verifier.VerifyClaims(token);
  REQUIRE(claims.has_value());
  CHECK(claims->expires_at == clock.now + 600);
  const auto stats = verifier.cache_stats();
  CHECK(stats.misses == 1);
  CHECK(stats.hits == 3);
  CHECK(stats.size == 1);
}

TEST_CASE("refused tokens are not cached: asking again verifies again and refuses again") {
  SigningKey key = SigningKey::Generate();
  FakeClock clock;
  Verifier verifier(clock.Options());
  verifier.SetKeys({key.public_key()});
  std::string token = TokenFor(key, 1, clock.now);
  token.back() = token.back() == 'A' ? 'Q' : 'A';
  for (int i = 0; i < 2; ++i) CHECK(verifier.Verify(token).error() == VerifyError::kBadSignature);
  CHECK(verifier.cache_stats().hits == 0);
  CHECK(verifier.cache_stats().size == 0);
}

TEST_CASE("a tampered variant of a cached token never uses its entry") {
  SigningKey key = SigningKey::Generate();
  FakeClock clock;
  Verifier verifier(clock.Options());
  verifier.SetKeys({key.public_key()});
  const std::string token = TokenFor(key, 5, clock.now);
  REQUIRE(verifier.Verify(token).has_value());

  // Every character changed, one at a time, to another of the alphabet (the dots too).
  for (std::size_t i = 0; i < token.size(); ++i) {
    std::string variant = token;
    variant[i] = kBase64Url[(kBase64Url.find(token[i]) + 1) % kBase64Url.size()];
    CAPTURE(i);
    CHECK_FALSE(verifier.Verify(variant).has_value());
  }
  // Longer, shorter, the claims of an admin under the original signature.
  CHECK_FALSE(verifier.Verify(token + "A").has_value());
  CHECK_FALSE(verifier.Verify(token.substr(0, token.size() - 1)).has_value());
  const std::string admin = TokenFor(key, 5, clock.now, 600, Role::kAdmin);
  const std::string forged = admin.substr(0, admin.rfind('.')) + token.substr(token.rfind('.'));
  CHECK(verifier.Verify(forged).error() == VerifyError::kBadSignature);

  auto still = verifier.Verify(token);
  REQUIRE(still.has_value());
  CHECK(still->role == Role::kCustomer);
  CHECK(verifier.cache_stats().size == 1);
}

TEST_CASE("a token that expires while cached is refused from its exp on") {
  SigningKey key = SigningKey::Generate();
  FakeClock clock;
  Verifier verifier(clock.Options());
  verifier.SetKeys({key.public_key()});
  const std::int64_t issued = clock.now;
  const std::string token = TokenFor(key, 3, issued, 60);
  REQUIRE(verifier.Verify(token).has_value());

  clock.now = issued + 59;
  CHECK(verifier.Verify(token).has_value());
  CHECK(verifier.cache_stats().hits == 1);
  clock.now = issued + 60;
  CHECK(verifier.Verify(token).error() == VerifyError::kExpired);
  CHECK(verifier.Verify(token).error() == VerifyError::kExpired);
  CHECK(verifier.cache_stats().size == 0);
}

TEST_CASE("changing the keys drops the cache: a token of a key no longer trusted is refused at once") {
  SigningKey old_key = SigningKey::Generate();
  SigningKey new_key = SigningKey::Generate();
  FakeClock clock;
  Verifier verifier(clock.Options());
  verifier.SetKeys({old_key.public_key()});
  const std::string token = TokenFor(old_key, 9, clock.now);
  REQUIRE(verifier.Verify(token).has_value());
  REQUIRE(verifier.Verify(token).has_value());
  REQUIRE(verifier.cache_stats().hits == 1);

  verifier.SetKeys({new_key.public_key()});
  CHECK(verifier.cache_stats().size == 0);
  CHECK(verifier.Verify(token).error() == VerifyError::kUnknownKey);

  // Both keys trusted again (a rotation's overlap): verified in full once more, then cached.
  verifier.SetKeys({new_key.public_key(), old_key.public_key()});
  const auto before = verifier.cache_stats();
  CHECK(verifier.Verify(token).has_value());
  CHECK(verifier.Verify(token).has_value());
  CHECK(verifier.cache_stats().misses == before.misses + 1);
  CHECK(verifier.cache_stats().hits == before.hits + 1);
}

TEST_CASE("a full cache drops its least recently used entries and still answers right for every token") {
  SigningKey key = SigningKey::Generate();
  FakeClock clock;
  Verifier verifier(clock.Options(32));
  verifier.SetKeys({key.public_key()});
  const auto capacity = verifier.cache_stats().capacity;
  CHECK(capacity >= 32);
  CHECK(capacity < 100);

  std::vector<std::string> tokens;
  for (int user = 1; user <= 300; ++user) tokens.push_back(TokenFor(key, user, clock.now));
  for (int round = 0; round < 2; ++round) {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      auto principal = verifier.Verify(tokens[i]);
      REQUIRE(principal.has_value());
      CHECK(principal->user_id == static_cast<std::int64_t>(i + 1));
    }
  }
  const auto stats = verifier.cache_stats();
  CHECK(stats.size <= capacity);
  CHECK(stats.evictions >= 600 - capacity);
  CHECK(stats.hits + stats.misses == 600);

  // A token asked for again and again stays cached while others come and go.
  const std::string hot = tokens.front();
  const auto hits_before = verifier.cache_stats().hits;
  for (std::size_t i = 1; i < tokens.size(); ++i) {
    REQUIRE(verifier.Verify(hot).has_value());
    REQUIRE(verifier.Verify(tokens[i]).has_value());
  }
  CHECK(verifier.cache_stats().hits - hits_before >= tokens.size() - 2);
}

TEST_CASE("service tokens are cached apart from user tokens, and neither passes for the other") {
  SigningKey key = SigningKey::Generate();
  FakeClock clock;
  Verifier verifier(clock.Options());
  verifier.SetKeys({key.public_key()});
  const std::string service = key.SignService(ServiceIdentity{"orders", clock.now, clock.now + 300});
  const std::string user = TokenFor(key, 11, clock.now);

  for (int i = 0; i < 2; ++i) {
    auto identity = verifier.VerifyService(service);
    REQUIRE(identity.has_value());
    CHECK(identity->service == "orders");
    CHECK(verifier.Verify(service).error() == VerifyError::kWrongType);
    REQUIRE(verifier.Verify(user).has_value());
    CHECK(verifier.VerifyService(user).error() == VerifyError::kWrongType);
  }
  CHECK(verifier.cache_stats().hits == 2);  // the second VerifyService(service) and Verify(user)

  clock.now = clock.now + 300;
  CHECK(verifier.VerifyService(service).error() == VerifyError::kExpired);
}

TEST_CASE("with the cache off every call verifies in full") {
  SigningKey key = SigningKey::Generate();
  Verifier verifier(Verifier::Options{.cache_capacity = 0});
  verifier.SetKeys({key.public_key()});
  const std::string token = TokenFor(key, 2, shop::UnixNow());
  CHECK(verifier.Verify(token).has_value());
  CHECK(verifier.Verify(token).has_value());
  CHECK(verifier.cache_stats().hits == 0);
  CHECK(verifier.cache_stats().capacity == 0);
}

TEST_CASE("threads verifying while the keys change: every answer is right, and none trusts a dropped key") {
  SigningKey key_a = SigningKey::Generate();
  SigningKey key_b = SigningKey::Generate();
  FakeClock clock;
  Verifier verifier(clock.Options(64));
  verifier.SetKeys({key_a.public_key()});
  std::vector<std::string> tokens;
  for (int user = 1; user <= 40; ++user) tokens.push_back(TokenFor(key_a, user, clock.now));

  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      for (std::size_t i = static_cast<std::size_t>(t); !stop.load(); i = (i + 7) % tokens.size()) {
        auto principal = verifier.Verify(tokens[i]);
        // Refusals are fine while key A is not trusted; an answer naming another user never is.
        if (principal && principal->user_id != static_cast<std::int64_t>(i + 1)) ++wrong;
      }
    });
  }
  int refused_after_rotation = 0;
  for (int round = 0; round < 200; ++round) {
    verifier.SetKeys({key_b.public_key()});
    // Started after SetKeys returned: nothing verified under key A may be used now.
    for (const std::string& token : tokens) refused_after_rotation += verifier.Verify(token).has_value() ? 0 : 1;
    verifier.SetKeys({key_a.public_key()});
  }
  stop = true;
  for (auto& thread : threads) thread.join();
  CHECK(wrong.load() == 0);
  CHECK(refused_after_rotation == 200 * static_cast<int>(tokens.size()));
}
