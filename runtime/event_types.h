// The AST pass that finds the C type of each ring buffer's events (runtime/event_types.cpp).
#ifndef BPFLUA_EVENT_TYPES_H
#define BPFLUA_EVENT_TYPES_H

#include <clang/AST/ASTConsumer.h>

#include <memory>
#include <string>

// A consumer that, at the end of the translation unit, appends to out one line per ring:
//   event <TAB> ring <TAB> size <TAB> C type name <TAB> FFI declaration
// followed by "field <TAB> ring <TAB> name <TAB> offset" lines for its members.
std::unique_ptr<clang::ASTConsumer> bpflua_event_type_consumer(std::string &out);

#endif
