# The Indonesian message catalog. po/id.po is compiled with msgfmt into
# <build>/share/locale/id/LC_MESSAGES/smm-syncd.mo. The binary looks in
# share/locale beside its bin folder, so the build tree's binary
# (<build>/daemon) finds this catalog and an installed one finds
# <prefix>/share/locale. SMM_SYNCD_LOCALEDIR overrides both.
include(GNUInstallDirs)
find_program(MSGFMT_EXECUTABLE msgfmt REQUIRED)

set(SMM_LOCALE_BUILD_DIR ${CMAKE_BINARY_DIR}/share/locale)
set(SMM_CATALOG_ID ${SMM_LOCALE_BUILD_DIR}/id/LC_MESSAGES/smm-syncd.mo)

# --check makes a translation whose printf directives differ from its
# msgid's fail the build instead of misformatting at run time.
add_custom_command(
  OUTPUT ${SMM_CATALOG_ID}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${SMM_LOCALE_BUILD_DIR}/id/LC_MESSAGES
  COMMAND ${MSGFMT_EXECUTABLE} --check -o ${SMM_CATALOG_ID} ${PROJECT_SOURCE_DIR}/po/id.po
  DEPENDS ${PROJECT_SOURCE_DIR}/po/id.po
  COMMENT "Compiling the Indonesian message catalog")
add_custom_target(smm-syncd-catalog ALL DEPENDS ${SMM_CATALOG_ID})
add_dependencies(smm-syncd smm-syncd-catalog)

file(RELATIVE_PATH SMM_LOCALEDIR_FROM_BINDIR ${CMAKE_INSTALL_FULL_BINDIR} ${CMAKE_INSTALL_FULL_LOCALEDIR})
target_compile_definitions(smm-syncd PRIVATE
  SMM_LOCALEDIR="${CMAKE_INSTALL_FULL_LOCALEDIR}"
  SMM_LOCALEDIR_FROM_BINDIR="${SMM_LOCALEDIR_FROM_BINDIR}")

install(FILES ${SMM_CATALOG_ID} DESTINATION ${CMAKE_INSTALL_LOCALEDIR}/id/LC_MESSAGES)
install(FILES README.id.md DESTINATION ${CMAKE_INSTALL_DOCDIR})

# `cmake --build build --target smm-syncd-update-po` extracts the messages
# again into po/smm-syncd.pot and merges them into po/id.po.
add_custom_target(smm-syncd-update-po
  COMMAND ${PROJECT_SOURCE_DIR}/po/catalog update
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
  VERBATIM)

if(SMM_BUILD_TESTS)
  # Every message in the sources has a translation in po/id.po that is
  # neither empty nor fuzzy.
  add_test(NAME CatalogTranslatesEveryMessage
           COMMAND ${PROJECT_SOURCE_DIR}/po/catalog check)
  # README.md and README.id.md, and each docs/ page and its .id.md
  # version, have the same headings, code blocks and tables in the same order.
  add_test(NAME DocsTranslationsMatchSections
           COMMAND ${PROJECT_SOURCE_DIR}/scripts/check-doc-sections)
  set_tests_properties(CatalogTranslatesEveryMessage DocsTranslationsMatchSections
                       PROPERTIES LABELS "unit;i18n" WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
endif()
