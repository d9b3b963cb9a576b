#pragma once
// Translation of what a person reads in the terminal: help, usage errors,
// configuration errors and command output. Log lines stay English because
// they are grepped and parsed. The only catalog is Indonesian (po/id.po).

#include <string>

namespace smm::i18n {

enum class Language { English, Indonesian };

// The locale variables as glibc reads them for LC_MESSAGES. A null or empty
// value counts as unset, as in glibc.
struct LocaleVariables {
  const char* language = nullptr;     // LANGUAGE
  const char* lc_all = nullptr;       // LC_ALL
  const char* lc_messages = nullptr;  // LC_MESSAGES
  const char* lang = nullptr;         // LANG
};

// Chooses the message language from the variables alone, in glibc's order,
// without needing the locale to be generated on this machine.
Language choose_language(const LocaleVariables& variables);

// Chooses the language from the process environment and, for Indonesian,
// binds the catalog. Call once at start, before the first tr().
void init();

// The language init() chose.
Language current_language();

// Returns the translation of `message`, or `message` itself in English or
// when the catalog has no entry. format_arg lets GCC check printf arguments
// against the English text; msgfmt --check checks the translation.
const char* tr(const char* message) __attribute__((format_arg(1)));

// printf into a std::string.
std::string format(const char* format, ...) __attribute__((format(printf, 1, 2)));

}  // namespace smm::i18n
