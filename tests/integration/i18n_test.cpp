// The message language of the smm-syncd command line: Indonesian when the
// locale variables choose it (also with no id_ID locale generated, as on a
// fresh Debian machine), English otherwise, in glibc's order of LANGUAGE,
// LC_ALL, LC_MESSAGES and LANG. Log lines stay English in both.

#include <chrono>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/support.hpp"

using smm::test::TempDir;

namespace {

struct Result {
  int code = -1;
  std::string output;
};

// The four locale variables; an empty value is unset for glibc and for
// smm-syncd. Every run sets all four, and clears SMM_SYNCD_LOCALEDIR unless
// given, so the test's own environment cannot leak into the result.
struct Locale {
  std::string language;
  std::string lc_all;
  std::string lc_messages;
  std::string lang;
};

std::map<std::string, std::string> locale_env(const Locale& locale,
                                              std::map<std::string, std::string> extra = {}) {
  extra.emplace("LANGUAGE", locale.language);
  extra.emplace("LC_ALL", locale.lc_all);
  extra.emplace("LC_MESSAGES", locale.lc_messages);
  extra.emplace("LANG", locale.lang);
  extra.emplace("SMM_SYNCD_LOCALEDIR", "");
  return extra;
}

Result smm_syncd(const std::vector<std::string>& args, const Locale& locale,
                 std::map<std::string, std::string> extra = {}) {
  Result result;
  result.code = smm::test::run_command(SMM_DAEMON_PATH, args, &result.output,
                                       locale_env(locale, std::move(extra)));
  return result;
}

const Locale kIndonesian{"", "", "", "id_ID.UTF-8"};
const Locale kC{"", "", "", "C"};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string minimal_config(const std::string& extra = "") {
  return "[provider]\nbase_url = \"http://127.0.0.1:9\"\n" + extra;
}

// Writes a config for the test Redis under its own key prefix; returns its path.
std::string write_queue_config(TempDir& dir, const std::string& prefix) {
  dir.write("c.toml", minimal_config() + "[redis]\nurl = \"" + smm::test::redis_url() +
                          "\"\nkey_prefix = \"" + prefix + "\"\n");
  return dir.file("c.toml");
}

const std::map<std::string, std::string> kSecrets = {
    {"CENTRALSMM_API_ID", "example-api-id"},
    {"CENTRALSMM_API_KEY", "example-api-key"},
    {"CENTRALSMM_SECRET_KEY", "example-secret-key"}};

}  // namespace

TEST(I18n, HelpIsIndonesianUnderIdLang) {
  Result result = smm_syncd({"--help"}, kIndonesian);
  EXPECT_EQ(result.code, 0);
  EXPECT_TRUE(contains(result.output, "Penggunaan:")) << result.output;
  EXPECT_TRUE(contains(result.output, "Berkas konfigurasi (TOML)")) << result.output;
  EXPECT_TRUE(contains(result.output, "antrean Redis")) << result.output;
  EXPECT_FALSE(contains(result.output, "Usage:")) << result.output;
  EXPECT_FALSE(contains(result.output, "Configuration file")) << result.output;
}

TEST(I18n, HelpIsEnglishUnderCLang) {
  Result result = smm_syncd({"--help"}, kC);
  EXPECT_EQ(result.code, 0);
  EXPECT_TRUE(contains(result.output, "Usage:")) << result.output;
  EXPECT_TRUE(contains(result.output, "Configuration file (TOML)")) << result.output;
  EXPECT_FALSE(contains(result.output, "Penggunaan")) << result.output;
}

TEST(I18n, SubcommandHelpIsIndonesian) {
  Result result = smm_syncd({"dead-letters", "--help"}, kIndonesian);
  EXPECT_EQ(result.code, 0);
  EXPECT_TRUE(contains(result.output, "Opsi:")) << result.output;
  EXPECT_TRUE(contains(result.output, "Tampilkan bantuan ini lalu keluar")) << result.output;
  EXPECT_FALSE(contains(result.output, "Options:")) << result.output;
}

// One row per rule of the order; `indonesian` is the expected language.
struct PrecedenceCase {
  const char* name;
  Locale locale;
  bool indonesian;
};

TEST(I18n, LocaleVariablesFollowGlibcOrder) {
  const std::vector<PrecedenceCase> cases = {
      {"LANG alone", {"", "", "", "id_ID.UTF-8"}, true},
      {"LANG without territory", {"", "", "", "id"}, true},
      {"LANG English", {"", "", "", "en_US.UTF-8"}, false},
      {"nothing set is C", {"", "", "", ""}, false},
      {"LC_MESSAGES over LANG", {"", "", "id_ID.UTF-8", "en_US.UTF-8"}, true},
      {"LC_MESSAGES C over LANG", {"", "", "C", "id_ID.UTF-8"}, false},
      {"LC_ALL over LANG", {"", "id_ID.UTF-8", "", "C"}, true},
      {"LC_ALL C over LANG", {"", "C", "", "id_ID.UTF-8"}, false},
      {"LC_ALL over LC_MESSAGES", {"", "en_US.UTF-8", "id_ID.UTF-8", ""}, false},
      {"LANGUAGE over LANG", {"id", "", "", "en_US.UTF-8"}, true},
      {"LANGUAGE English over LANG", {"en", "", "", "id_ID.UTF-8"}, false},
      {"LANGUAGE skips a language without catalog", {"fr:id_ID", "", "", "en_US.UTF-8"}, true},
      {"LANGUAGE first of English and Indonesian", {"en_GB:id", "", "", "id_ID.UTF-8"}, false},
      {"LANGUAGE ignored in C locale", {"id", "", "", "C"}, false},
      {"LANGUAGE ignored in POSIX locale", {"id", "POSIX", "", ""}, false},
      {"LANGUAGE ignored with no locale set", {"id", "", "", ""}, false},
      {"LANGUAGE used in C.UTF-8", {"id", "C.UTF-8", "", ""}, true},
      {"other language code with prefix id", {"", "", "", "ido"}, false},
  };
  for (const auto& test_case : cases) {
    Result result = smm_syncd({"--help"}, test_case.locale);
    EXPECT_EQ(result.code, 0) << test_case.name;
    const bool indonesian = contains(result.output, "Penggunaan:");
    const bool english = contains(result.output, "Usage:");
    EXPECT_EQ(indonesian, test_case.indonesian) << test_case.name << "\n" << result.output;
    EXPECT_EQ(english, !test_case.indonesian) << test_case.name << "\n" << result.output;
  }
}

TEST(I18n, LocaledirVariableOverridesCatalogPath) {
  TempDir empty;
  Result result = smm_syncd({"--help"}, kIndonesian, {{"SMM_SYNCD_LOCALEDIR", empty.path()}});
  EXPECT_EQ(result.code, 0);
  EXPECT_TRUE(contains(result.output, "Usage:")) << result.output;
}

TEST(I18n, ConfigErrorIsIndonesian) {
  Result result = smm_syncd({"check-config", "--config", "/nonexistent/smm-syncd.toml"}, kIndonesian);
  EXPECT_EQ(result.code, 2);
  EXPECT_TRUE(contains(result.output, "smm-syncd: konfigurasi tidak valid: ")) << result.output;
  EXPECT_TRUE(contains(result.output, "/nonexistent/smm-syncd.toml")) << result.output;
}

TEST(I18n, ConfigErrorIsEnglishUnderCLang) {
  Result result = smm_syncd({"check-config", "--config", "/nonexistent/smm-syncd.toml"}, kC);
  EXPECT_EQ(result.code, 2);
  EXPECT_TRUE(contains(result.output, "smm-syncd: invalid configuration: ")) << result.output;
}

TEST(I18n, CheckConfigHeaderIsIndonesian) {
  TempDir dir;
  dir.write("c.toml", minimal_config());
  Result result = smm_syncd({"check-config", "--config", dir.file("c.toml")}, kIndonesian, kSecrets);
  EXPECT_EQ(result.code, 0) << result.output;
  EXPECT_TRUE(contains(result.output, "# " + dir.file("c.toml") + ": konfigurasi valid"))
      << result.output;
  EXPECT_TRUE(contains(result.output, "# Konfigurasi yang berlaku, dimuat dari " + dir.file("c.toml")))
      << result.output;
  EXPECT_FALSE(contains(result.output, "Effective")) << result.output;
}

// A config file with one problem and the problem's text in each language,
// after "<file>: <key>: ".
struct ConfigCase {
  const char* name;
  std::string extra;  // appended to the minimal config
  std::string key;
  std::string indonesian;
  std::string english;
};

const std::vector<ConfigCase> kConfigCases = {
    {"wrong type", "burst = \"five\"\n", "provider.burst", "harus bilangan bulat (integer), bukan string",
     "expected an integer, got string"},
    {"out of range", "max_in_flight = 0\n", "provider.max_in_flight",
     "harus antara 1 dan 10000, bukan 0", "must be between 1 and 10000, got 0"},
    {"fraction out of range", "throttle_backoff = 1.5\n", "provider.throttle_backoff",
     "harus lebih dari 0 dan kurang dari 1, bukan 1.5",
     "must be greater than 0 and less than 1, got 1.5"},
    {"unknown key", "bogus_key = 1\n", "provider.bogus_key", "kunci tidak dikenal", "unknown key"},
    {"duration without unit", "request_timeout = \"15\"\n", "provider.request_timeout",
     "durasi '15' tidak valid: durasi perlu satuan, misalnya \"15s\"",
     "invalid duration '15': durations need a unit, e.g. \"15s\""},
    // The translation puts the two arguments in the other order (%2$s, %1$s).
    {"arguments reordered", "account_error_patterns = [\"a\", 1]\n",
     "provider.account_error_patterns",
     "harus berupa array berisi string, tetapi elemen di indeks 1 berupa integer",
     "expected an array of strings, got integer at index 1"},
    {"port out of range", "[health]\nlisten = \"127.0.0.1:99999\"\n", "health.listen",
     "port di \"127.0.0.1:99999\" harus berupa angka dari 0 sampai 65535",
     "the port must be a number from 0 to 65535, got \"127.0.0.1:99999\""},
};

TEST(I18n, ConfigProblemsAreIndonesian) {
  TempDir dir;
  for (const auto& test_case : kConfigCases) {
    dir.write("c.toml", minimal_config(test_case.extra));
    Result result = smm_syncd({"check-config", "--config", dir.file("c.toml")}, kIndonesian, kSecrets);
    EXPECT_EQ(result.code, 2) << test_case.name;
    const std::string expected = "smm-syncd: konfigurasi tidak valid: " + dir.file("c.toml") + ": " +
                                 test_case.key + ": " + test_case.indonesian + "\n";
    EXPECT_EQ(result.output, expected) << test_case.name;
  }
}

TEST(I18n, ConfigProblemsAreEnglishUnderCLang) {
  TempDir dir;
  for (const auto& test_case : kConfigCases) {
    dir.write("c.toml", minimal_config(test_case.extra));
    Result result = smm_syncd({"check-config", "--config", dir.file("c.toml")}, kC, kSecrets);
    EXPECT_EQ(result.code, 2) << test_case.name;
    const std::string expected = "smm-syncd: invalid configuration: " + dir.file("c.toml") + ": " +
                                 test_case.key + ": " + test_case.english + "\n";
    EXPECT_EQ(result.output, expected) << test_case.name;
  }
}

TEST(I18n, MissingSecretIsTranslated) {
  TempDir dir;
  dir.write("c.toml", minimal_config());
  Result indonesian = smm_syncd({"run", "--config", dir.file("c.toml")}, kIndonesian);
  EXPECT_EQ(indonesian.code, 2);
  EXPECT_TRUE(contains(indonesian.output,
                       "provider.api_id: belum diisi: isi di berkas konfigurasi, di variabel lingkungan "
                       "CENTRALSMM_API_ID, atau di kredensial systemd centralsmm-api-id"))
      << indonesian.output;

  Result english = smm_syncd({"run", "--config", dir.file("c.toml")}, kC);
  EXPECT_EQ(english.code, 2);
  EXPECT_TRUE(contains(english.output,
                       "provider.api_id: missing: set it in the file, the environment variable CENTRALSMM_API_ID or the "
                       "systemd credential centralsmm-api-id"))
      << english.output;
}

TEST(I18n, MissingFileIsIndonesian) {
  Result result = smm_syncd({"check-config", "--config", "/nonexistent/smm-syncd.toml"}, kIndonesian);
  EXPECT_EQ(result.code, 2);
  EXPECT_TRUE(contains(result.output, "/nonexistent/smm-syncd.toml: berkas tidak ditemukan"))
      << result.output;
}

// A bad command line and the first line of its error in each language. The
// line names the option or argument and the value.
struct UsageCase {
  std::vector<std::string> args;
  std::string indonesian;
  std::string english;
};

const std::vector<UsageCase> kUsageCases = {
    {{"frobnicate"},
     "smm-syncd: argumen tidak dikenal atau berlebih: frobnicate\n"
     "Perintah yang tersedia: run, check-config, enqueue, stats, dead-letters, migrate.",
     "smm-syncd: unexpected argument: frobnicate\n"
     "Commands: run, check-config, enqueue, stats, dead-letters, migrate."},
    {{"stats", "--bogus"},
     "smm-syncd: argumen tidak dikenal atau berlebih: --bogus",
     "smm-syncd: unexpected argument: --bogus"},
    {{"enqueue"}, "smm-syncd: berikan minimal satu ID pesanan provider",
     "smm-syncd: give at least one provider order id"},
    {{"stats", "--config"}, "smm-syncd: --config memerlukan nilai",
     "smm-syncd: --config needs a value"},
    {{"--config", "a.toml", "--config", "b.toml"},
     "smm-syncd: --config hanya menerima maksimal 1 nilai, tetapi diberi 2",
     "smm-syncd: --config accepts at most 1 value(s), got 2"},
    {{"dead-letters", "--limit", "0"},
     "smm-syncd: --limit: harus bilangan bulat dari 1 sampai 1000000, bukan \"0\"",
     "smm-syncd: --limit: expected a whole number from 1 to 1000000, got \"0\""},
    {{"dead-letters", "--limit", "ten"},
     "smm-syncd: --limit: harus bilangan bulat dari 1 sampai 1000000, bukan \"ten\"",
     "smm-syncd: --limit: expected a whole number from 1 to 1000000, got \"ten\""},
    {{"dead-letters", "--requeue=maybe"},
     "smm-syncd: nilai untuk --requeue tidak valid: maybe",
     "smm-syncd: invalid value for --requeue: maybe"},
};

TEST(I18n, CommandLineErrorsAreIndonesian) {
  for (const auto& test_case : kUsageCases) {
    Result result = smm_syncd(test_case.args, kIndonesian);
    EXPECT_EQ(result.code, 2) << test_case.indonesian;
    EXPECT_EQ(result.output, test_case.indonesian + "\nJalankan dengan --help untuk keterangan lebih lanjut.\n");
  }
}

TEST(I18n, CommandLineErrorsAreEnglishUnderCLang) {
  for (const auto& test_case : kUsageCases) {
    Result result = smm_syncd(test_case.args, kC);
    EXPECT_EQ(result.code, 2) << test_case.english;
    EXPECT_EQ(result.output, test_case.english + "\nRun with --help for more information.\n");
  }
}

TEST(I18n, LimitHelpShowsTranslatedRange) {
  Result indonesian = smm_syncd({"dead-letters", "--help"}, kIndonesian);
  EXPECT_EQ(indonesian.code, 0);
  EXPECT_TRUE(contains(indonesian.output, "--limit ANGKA ")) << indonesian.output;
  EXPECT_TRUE(contains(indonesian.output, "dari 1 sampai 1000000 (bawaan 100)")) << indonesian.output;
  EXPECT_FALSE(contains(indonesian.output, "INT")) << indonesian.output;

  Result english = smm_syncd({"dead-letters", "--help"}, kC);
  EXPECT_EQ(english.code, 0);
  EXPECT_TRUE(contains(english.output, "--limit INT ")) << english.output;
  EXPECT_TRUE(contains(english.output, "from 1 to 1000000 (default 100)")) << english.output;
}

// Each reason parse_order_id gives, in both languages.
TEST(I18n, OrderIdReasonsAreTranslated) {
  struct Case {
    std::string id;
    std::string indonesian;
    std::string english;
  };
  const std::vector<Case> cases = {
      {"12a", "ID pesanan \"12a\" tidak valid: berisi karakter selain angka 0-9",
       "invalid order id \"12a\": contains a character other than the digits 0-9"},
      {"123456789012345678901", "ID pesanan \"123456789012345678901\" tidak valid: lebih dari 20 digit",
       "invalid order id \"123456789012345678901\": longer than 20 digits"},
      {" ", "ID pesanan \" \" tidak valid: kosong", "invalid order id \" \": empty"},
  };
  for (const auto& test_case : cases) {
    Result indonesian = smm_syncd({"enqueue", "--config", "/unused.toml", test_case.id}, kIndonesian);
    EXPECT_EQ(indonesian.code, 2) << test_case.id;
    EXPECT_TRUE(contains(indonesian.output, test_case.indonesian + " (harus 1 sampai 20 digit angka)"))
        << indonesian.output;

    Result english = smm_syncd({"enqueue", "--config", "/unused.toml", test_case.id}, kC);
    EXPECT_EQ(english.code, 2) << test_case.id;
    EXPECT_TRUE(contains(english.output, test_case.english + " (expected 1 to 20 decimal digits)"))
        << english.output;
  }
}

TEST(I18n, UsageErrorsAreIndonesian) {
  Result bad_id = smm_syncd({"enqueue", "--config", "/unused.toml", "12a"}, kIndonesian);
  EXPECT_EQ(bad_id.code, 2);
  EXPECT_TRUE(contains(bad_id.output, "ID pesanan \"12a\" tidak valid")) << bad_id.output;

  Result ids_without_requeue =
      smm_syncd({"dead-letters", "--config", "/unused.toml", "12"}, kIndonesian);
  EXPECT_EQ(ids_without_requeue.code, 2);
  EXPECT_TRUE(contains(ids_without_requeue.output, "hanya bisa diberikan bersama --requeue"))
      << ids_without_requeue.output;

  Result unknown = smm_syncd({"frobnicate"}, kIndonesian);
  EXPECT_EQ(unknown.code, 2);
  EXPECT_TRUE(contains(unknown.output, "Jalankan dengan --help")) << unknown.output;
}

// A shared rate factor below 1 shows a fraction: with a decimal comma in
// Indonesian and a decimal point in English.
TEST(I18n, StatsUseDecimalCommaInIndonesian) {
  if (smm::test::redis_url().empty()) GTEST_SKIP() << "SMM_TEST_REDIS_URL is unset; run scripts/test";
  TempDir dir;
  const std::string prefix = smm::test::unique_name("i18n_decimal");
  const std::string config = write_queue_config(dir, prefix);
  const auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  smm::test::SyncRedis redis(smm::test::redis_url());
  redis.command({"HSET", "{" + prefix + "}:rl", "factor", "0.5", "factor_at",
                 std::to_string(now_us)});

  Result indonesian = smm_syncd({"stats", "--config", config}, kIndonesian);
  Result english = smm_syncd({"stats", "--config", config}, kC);

  ASSERT_EQ(indonesian.code, 0) << indonesian.output;
  ASSERT_EQ(english.code, 0) << english.output;
  // The factor recovers while the commands run (slower under sanitizers), so
  // only its form is fixed: two decimals below 1.
  EXPECT_TRUE(std::regex_search(indonesian.output, std::regex("faktor laju +0,[5-9][0-9]\n")))
      << indonesian.output;
  EXPECT_TRUE(std::regex_search(english.output, std::regex("rate factor +0\\.[5-9][0-9]\n")))
      << english.output;
}

TEST(I18n, LogLinesStayEnglish) {
  TempDir dir;
  dir.write("c.toml", minimal_config() +
                          "[redis]\nurl = \"redis://127.0.0.1:1/0\"\ncommand_timeout = \"200ms\"\n"
                          "reconnect_max = \"200ms\"\n");
  Result result = smm_syncd({"stats", "--config", dir.file("c.toml")}, kIndonesian);
  EXPECT_EQ(result.code, 1) << result.output;
  EXPECT_TRUE(contains(result.output, "tidak dapat terhubung ke Redis")) << result.output;
  // The log line's error text comes from strerror(), which must not follow
  // the message language.
  EXPECT_TRUE(contains(result.output, "redis_connect_failed")) << result.output;
  EXPECT_TRUE(contains(result.output, "Connection refused")) << result.output;
}

TEST(I18n, QueueCommandsAreIndonesian) {
  if (smm::test::redis_url().empty()) GTEST_SKIP() << "SMM_TEST_REDIS_URL is unset; run scripts/test";
  TempDir dir;
  const std::string prefix = smm::test::unique_name("i18n");
  const std::string config = write_queue_config(dir, prefix);

  Result enqueued = smm_syncd({"enqueue", "--config", config, "201", "202"}, kIndonesian);
  ASSERT_EQ(enqueued.code, 0) << enqueued.output;
  EXPECT_TRUE(contains(enqueued.output, "2 ID pesanan dijadwalkan untuk segera dicek")) << enqueued.output;

  // The values stay in one column after the longer Indonesian labels.
  Result stats = smm_syncd({"stats", "--config", config}, kIndonesian);
  ASSERT_EQ(stats.code, 0) << stats.output;
  EXPECT_TRUE(contains(stats.output, "terjadwal                2\n")) << stats.output;
  EXPECT_TRUE(contains(stats.output, "sedang diproses          0\n")) << stats.output;
  EXPECT_TRUE(contains(stats.output, "circuit breaker provider tertutup (polling normal)\n")) << stats.output;

  smm::test::SyncRedis redis(smm::test::redis_url());
  redis.command({"LPUSH", "{" + prefix + "}:dead",
                 R"({"payload":"203","reason":"Pesanan tidak ditemukan","at":1})"});
  Result listed = smm_syncd({"dead-letters", "--config", config}, kIndonesian);
  ASSERT_EQ(listed.code, 0) << listed.output;
  EXPECT_TRUE(contains(listed.output, "1 dead letter ditampilkan")) << listed.output;

  Result requeued = smm_syncd({"dead-letters", "--config", config, "--requeue", "203", "204"},
                              kIndonesian);
  ASSERT_EQ(requeued.code, 0) << requeued.output;
  EXPECT_TRUE(contains(requeued.output, "1 ID pesanan dimasukkan kembali ke antrean"))
      << requeued.output;
  EXPECT_TRUE(contains(requeued.output, "1 ID yang diberikan tidak ada di daftar dead letter"))
      << requeued.output;
}
