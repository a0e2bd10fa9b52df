#pragma once
// troupe's version. CMake's project(VERSION) must agree (the configure step
// checks), and so must CHANGELOG.md's newest entry (a test checks).

#define TROUPE_VERSION_MAJOR 0
#define TROUPE_VERSION_MINOR 3
#define TROUPE_VERSION_PATCH 0
#define TROUPE_VERSION_STRING "0.3.0"

namespace troupe {

// The version of the headers compiled against. Any thread.
constexpr const char* version() noexcept { return TROUPE_VERSION_STRING; }

}  // namespace troupe
