/* Tables that outlive one BPF object or cross between objects, as bcc has them:
 *
 *   BPF_TABLE_PINNED(type, key, leaf, name, size, "/sys/fs/bpf/path")  pinned in bpffs: a
 *       later object (in any process) that declares it at the same path gets the same map
 *   BPF_TABLE_PUBLIC(...) / BPF_TABLE_SHARED(...)  visible to objects loaded after this one in
 *       the same process, which declare it with BPF_TABLE("extern", key, leaf, name, size)
 *
 * The declarations leave notes in the ELF section .bpflua.tables, "name\0how\0path\0" each
 * (bpf/bpflua/tables.h); they are read here between libbpf's open and load. */
#define _GNU_SOURCE
#include "map_sharing.h"
#include "object.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <linux/magic.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#define NOTES_SECTION ".bpflua.tables"
#define BPFFS_DIR "/sys/fs/bpf"

struct public_table {
	char *name;
	int fd;                     /* our own dup of the map's fd */
	struct bpflua_object *owner;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct public_table *registry;
static int nregistry;

struct note {
	const char *name, *how, *path;
};

/* The notes of the object's ELF, pointing into a copy owned by *data (free it). */
static int read_notes(const struct bpflua_object *o, struct note **notes, char **data)
{
	*notes = NULL;
	*data = NULL;
	elf_version(EV_CURRENT);
	Elf *elf = elf_memory(o->elf, o->elf_len);
	size_t shstrndx;
	if (!elf || elf_getshdrstrndx(elf, &shstrndx) != 0) {
		if (elf)
			elf_end(elf);
		return 0;
	}
	int n = 0;
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr shdr;
		const char *name;
		if (!gelf_getshdr(scn, &shdr) || !(name = elf_strptr(elf, shstrndx, shdr.sh_name)) ||
		    strcmp(name, NOTES_SECTION) != 0)
			continue;
		Elf_Data *d = elf_rawdata(scn, NULL);
		if (!d || !d->d_size)
			break;
		*data = malloc(d->d_size + 1);
		if (!*data)
			break;
		memcpy(*data, d->d_buf, d->d_size);
		(*data)[d->d_size] = '\0';
		/* Each note is three strings; notes may be padded with NULs between them. */
		char *p = *data, *end = *data + d->d_size;
		while (p < end) {
			if (!*p) {
				p++;
				continue;
			}
			struct note note = {p, NULL, NULL};
			p += strlen(p) + 1;
			note.how = p < end ? p : "";
			p += strlen(note.how) + 1;
			note.path = p < end ? p : "";
			p += strlen(note.path) + 1;
			struct note *grown = realloc(*notes, sizeof(*grown) * (size_t)(n + 1));
			if (!grown)
				break;
			*notes = grown;
			(*notes)[n++] = note;
		}
		break;
	}
	elf_end(elf);
	return n;
}

/* Pins need bpffs at /sys/fs/bpf; mount it there when nothing is (as bcc's users do). */
static void ensure_bpffs(const char *path)
{
	struct statfs st;
	if (strncmp(path, BPFFS_DIR "/", strlen(BPFFS_DIR) + 1) != 0)
		return;
	if (statfs(BPFFS_DIR, &st) == 0 && st.f_type == BPF_FS_MAGIC)
		return;
	mkdir(BPFFS_DIR, 0700);
	mount("bpf", BPFFS_DIR, "bpf", 0, "mode=0700");
}

static struct public_table *find_public(const char *name)
{
	for (int i = 0; i < nregistry; i++)
		if (!strcmp(registry[i].name, name))
			return &registry[i];
	return NULL;
}

int map_sharing_prepare(struct bpflua_object *o, char **error)
{
	struct note *notes;
	char *data;
	int n = read_notes(o, &notes, &data), err = 0;
	pthread_mutex_lock(&registry_lock);
	for (int i = 0; i < n && !err; i++) {
		struct bpf_map *map = bpf_object__find_map_by_name(o->obj, notes[i].name);
		if (!map)
			continue;
		if (!strcmp(notes[i].how, "pinned")) {
			if (notes[i].path[0] != '/') {
				*error = str_printf("BPF_TABLE_PINNED '%s': the pin path must be absolute, "
						    "as in \"/sys/fs/bpf/%s\"", notes[i].name, notes[i].name);
				err = -EINVAL;
				break;
			}
			ensure_bpffs(notes[i].path);
			err = bpf_map__set_pin_path(map, notes[i].path);
			if (err)
				*error = str_printf("BPF_TABLE_PINNED '%s': %s", notes[i].name, strerror(-err));
		} else if (!strcmp(notes[i].how, "extern")) {
			struct public_table *t = find_public(notes[i].name);
			if (!t) {
				*error = str_printf("BPF_TABLE(\"extern\", ...) '%s': no table of that name is "
						    "public in this process (declare it with BPF_TABLE_PUBLIC or "
						    "BPF_TABLE_SHARED in an object loaded before)", notes[i].name);
				err = -ENOENT;
				break;
			}
			err = bpf_map__reuse_fd(map, t->fd);
			if (err)
				*error = str_printf("BPF_TABLE(\"extern\", ...) '%s': cannot use the public "
						    "table: %s", notes[i].name, strerror(-err));
		} else if (!strcmp(notes[i].how, "public") || !strcmp(notes[i].how, "shared")) {
			struct public_table *t = find_public(notes[i].name);
			if (t && t->owner != o) {
				*error = str_printf("BPF_TABLE_%s '%s': a table of that name is already public "
						    "in this process", !strcmp(notes[i].how, "public") ?
						    "PUBLIC" : "SHARED", notes[i].name);
				err = -EEXIST;
			}
		}
	}
	pthread_mutex_unlock(&registry_lock);
	free(notes);
	free(data);
	return err;
}

void map_sharing_publish(struct bpflua_object *o)
{
	struct note *notes;
	char *data;
	int n = read_notes(o, &notes, &data);
	pthread_mutex_lock(&registry_lock);
	for (int i = 0; i < n; i++) {
		if (strcmp(notes[i].how, "public") != 0 && strcmp(notes[i].how, "shared") != 0)
			continue;
		struct bpf_map *map = bpf_object__find_map_by_name(o->obj, notes[i].name);
		if (!map)
			continue;
		struct public_table *grown = realloc(registry, sizeof(*grown) * (size_t)(nregistry + 1));
		if (!grown)
			continue;
		registry = grown;
		int fd = fcntl(bpf_map__fd(map), F_DUPFD_CLOEXEC, 0);
		char *name = strdup(notes[i].name);
		if (fd < 0 || !name) {
			if (fd >= 0)
				close(fd);
			free(name);
			continue;
		}
		registry[nregistry++] = (struct public_table){name, fd, o};
	}
	pthread_mutex_unlock(&registry_lock);
	free(notes);
	free(data);
}

void map_sharing_forget(struct bpflua_object *o)
{
	pthread_mutex_lock(&registry_lock);
	for (int i = 0; i < nregistry;) {
		if (registry[i].owner == o) {
			close(registry[i].fd);
			free(registry[i].name);
			registry[i] = registry[--nregistry];
		} else {
			i++;
		}
	}
	pthread_mutex_unlock(&registry_lock);
}
