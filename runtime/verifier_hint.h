/* Hints for verifier rejections whose log alone does not tell a bcc user what to change. */
#ifndef BPFLUA_VERIFIER_HINT_H
#define BPFLUA_VERIFIER_HINT_H

/* A hint for a rejection with this verifier log ("hint: ...", malloc'd), or NULL when there
 * is none to give. */
char *verifier_hint(const char *log);

#endif
