/* Tables that outlive one BPF object or cross between objects (runtime/map_sharing.c). */
#ifndef BPFLUA_MAP_SHARING_H
#define BPFLUA_MAP_SHARING_H

struct bpflua_object;

/* Between open and load: pin paths for BPF_TABLE_PINNED, and the maps of public tables for
 * BPF_TABLE("extern", ...). 0, or a negative errno and *error. */
int map_sharing_prepare(struct bpflua_object *o, char **error);
/* After load: the object's BPF_TABLE_PUBLIC/BPF_TABLE_SHARED tables become visible to the
 * objects loaded after it in this process. */
void map_sharing_publish(struct bpflua_object *o);
/* At close: its public tables are withdrawn (objects that use them keep their maps). */
void map_sharing_forget(struct bpflua_object *o);

#endif
