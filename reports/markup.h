// Escaping for the markup the reports write (HTML and JUnit XML).
#pragma once

#include <string>

namespace blackout::reports {

// Escapes & < > " ' for use in element text and attribute values of HTML and
// XML alike. Control characters other than tab, newline and carriage return
// become '?', because XML 1.0 forbids them even escaped.
std::string EscapeMarkup(const std::string& s);

}  // namespace blackout::reports
