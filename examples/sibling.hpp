// sibling.hpp: where the example launch programs find the program they launch.
#pragma once

#include <string>

/// argv[1] if given, else the program `name` in the directory this launcher was started from
/// ("build/examples/launch_integrate" launches "build/examples/integrate").
inline std::string program_to_launch(int argc, char** argv, const std::string& name) {
  if (argc > 1) return argv[1];
  const std::string self = argv[0];
  const auto slash = self.rfind('/');
  return (slash == std::string::npos ? std::string(".") : self.substr(0, slash)) + "/" + name;
}
