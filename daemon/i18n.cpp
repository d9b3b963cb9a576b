// Message language and catalog setup for smm-syncd.
//
// Approach: the language is chosen from the environment variables here, not
// from setlocale(). A fresh Debian machine has no id_ID locale generated, so
// setlocale(LC_MESSAGES, "") fails there, glibc stays in the "C" locale,
// and in "C" glibc's gettext ignores LANGUAGE and translates nothing.
//
// So when the variables choose Indonesian, LANGUAGE is set to "id" and each
// tr() call looks its message up under a C.UTF-8 LC_MESSAGES locale made
// with newlocale() and applied to the calling thread with uselocale().
// C.UTF-8 is built into glibc 2.35 and later, so Debian 12 always has it,
// and gettext honours LANGUAGE in any locale but "C" and "POSIX". The
// process locale stays "C": strerror() texts in log lines stay English, and
// number parsing and formatting in the libraries (toml++, libpq, fmt) are
// unaffected. The catalog's output is bound to UTF-8 whatever LC_CTYPE is.

#include "i18n.hpp"

#include <libintl.h>

#include <locale.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <system_error>
#include <vector>

namespace smm::i18n {
namespace {

constexpr const char* kDomain = "smm-syncd";

Language g_language = Language::English;
// The LC_MESSAGES locale tr() switches to, or null when C.UTF-8 is missing.
locale_t g_messages_locale{};

bool is_set(const char* value) { return value != nullptr && value[0] != '\0'; }

// True for "id", "id_ID", "id_ID.UTF-8", "id@...": the language part of a
// locale name (before '_', '.' or '@') is `code`.
bool has_language(std::string_view locale, std::string_view code) {
  if (locale.substr(0, code.size()) != code) return false;
  if (locale.size() == code.size()) return true;
  const char next = locale[code.size()];
  return next == '_' || next == '.' || next == '@';
}

// The catalog folder: SMM_SYNCD_LOCALEDIR when set (tests, relocated
// installs), else share/locale beside the binary's bin folder, which is
// both the install layout (<prefix>/bin and <prefix>/share/locale) and the
// build tree's (<build>/daemon and <build>/share/locale), else the
// configured install prefix.
std::string find_locale_dir() {
  if (const char* from_env = std::getenv("SMM_SYNCD_LOCALEDIR"); is_set(from_env)) {
    return from_env;
  }
  const std::string catalog = std::string("/id/LC_MESSAGES/") + kDomain + ".mo";
  std::error_code error;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", error);
  if (!error) {
    const std::filesystem::path beside = exe.parent_path() / SMM_LOCALEDIR_FROM_BINDIR;
    if (std::filesystem::exists(beside.string() + catalog, error)) return beside.string();
  }
  return SMM_LOCALEDIR;
}

// Makes glibc's gettext use the Indonesian catalog (see the file comment).
void bind_indonesian() {
  // NOTE: without C.UTF-8 (glibc before 2.35 and no distribution patch)
  // newlocale fails and the messages stay English.
  g_messages_locale = newlocale(LC_MESSAGES_MASK, "C.UTF-8", locale_t{});
  // smm-syncd starts no child processes, and glibc ignores LANGUAGE in the
  // process's "C" locale, so this affects only the lookups in tr().
  setenv("LANGUAGE", "id", 1);
  const std::string dir = find_locale_dir();
  bindtextdomain(kDomain, dir.c_str());
  bind_textdomain_codeset(kDomain, "UTF-8");
}

}  // namespace

Language choose_language(const LocaleVariables& variables) {
  // glibc takes the LC_MESSAGES locale from the first set of LC_ALL,
  // LC_MESSAGES and LANG, and the "C" locale when none is set.
  const char* locale = "C";
  for (const char* candidate : {variables.lc_all, variables.lc_messages, variables.lang}) {
    if (is_set(candidate)) {
      locale = candidate;
      break;
    }
  }
  // In the "C" (or "POSIX") locale glibc ignores LANGUAGE and prints the
  // untranslated messages.
  if (std::strcmp(locale, "C") == 0 || std::strcmp(locale, "POSIX") == 0) {
    return Language::English;
  }

  // LANGUAGE is a colon-separated priority list that overrides the locale.
  // glibc skips a language without a catalog; English has none, but its
  // messages are the msgids, so an English entry before Indonesian means
  // English here.
  if (is_set(variables.language)) {
    std::string_view list = variables.language;
    while (!list.empty()) {
      const std::size_t colon = list.find(':');
      const std::string_view entry = list.substr(0, colon);
      if (has_language(entry, "id")) return Language::Indonesian;
      if (has_language(entry, "en") || entry == "C" || entry == "POSIX") return Language::English;
      if (colon == std::string_view::npos) break;
      list.remove_prefix(colon + 1);
    }
    return Language::English;
  }
  return has_language(locale, "id") ? Language::Indonesian : Language::English;
}

void init() {
  LocaleVariables variables;
  variables.language = std::getenv("LANGUAGE");
  variables.lc_all = std::getenv("LC_ALL");
  variables.lc_messages = std::getenv("LC_MESSAGES");
  variables.lang = std::getenv("LANG");
  g_language = choose_language(variables);
  if (g_language == Language::Indonesian) bind_indonesian();
}

Language current_language() { return g_language; }

const char* tr(const char* message) {
  // In English the msgid is the message, so there is nothing to look up.
  if (g_language == Language::English || g_messages_locale == locale_t{}) return message;
  const locale_t previous = uselocale(g_messages_locale);
  const char* translated = dgettext(kDomain, message);
  uselocale(previous);
  return translated;
}

std::string format(const char* format, ...) {
  std::va_list args;
  va_start(args, format);
  std::va_list size_args;
  va_copy(size_args, args);
  const int size = std::vsnprintf(nullptr, 0, format, size_args);
  va_end(size_args);
  if (size < 0) {
    va_end(args);
    return format;  // an encoding error: show the text unformatted
  }
  std::vector<char> buffer(static_cast<std::size_t>(size) + 1);
  std::vsnprintf(buffer.data(), buffer.size(), format, args);
  va_end(args);
  return std::string(buffer.data(), static_cast<std::size_t>(size));
}

}  // namespace smm::i18n
