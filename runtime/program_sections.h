// The AST pass that gives every non-static function of a program its own ELF section
// (runtime/program_sections.cpp).
#ifndef BPFLUA_PROGRAM_SECTIONS_H
#define BPFLUA_PROGRAM_SECTIONS_H

#include <clang/AST/ASTConsumer.h>

#include <memory>

std::unique_ptr<clang::ASTConsumer> bpflua_program_sections_consumer();

#endif
