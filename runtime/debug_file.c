/* Separate debug files, found where gdb and bcc look for them: by build id under
 * /usr/lib/debug/.build-id/xx/yyyy.debug (how Debian's -dbg and -dbgsym packages install
 * them), then by the name in .gnu_debuglink next to the file, in its .debug/ subdirectory and
 * under /usr/lib/debug/<its directory>/. A file found by build id must carry that build id,
 * one found by debuglink the CRC32 the link records: a stale debug file names the wrong
 * functions, which is worse than naming none. */
#define _GNU_SOURCE
#include "debug_file.h"
#include "util.h"

#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define DEBUG_DIR    "/usr/lib/debug"
#define MAX_BUILD_ID 64

/* The GNU build id note's bytes in id; its length, 0 when elf has none. */
static size_t build_id(Elf *elf, unsigned char *id)
{
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr shdr;
		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != SHT_NOTE)
			continue;
		Elf_Data *data = elf_getdata(scn, NULL);
		if (!data || !data->d_buf)
			continue;
		GElf_Nhdr note;
		size_t offset = 0, name_at, desc_at;
		while ((offset = gelf_getnote(data, offset, &note, &name_at, &desc_at)) > 0) {
			const char *name = (const char *)data->d_buf + name_at;
			if (note.n_type == NT_GNU_BUILD_ID && note.n_namesz == 4 &&
			    !memcmp(name, "GNU", 4) && note.n_descsz > 0 &&
			    note.n_descsz <= MAX_BUILD_ID) {
				memcpy(id, (const char *)data->d_buf + desc_at, note.n_descsz);
				return note.n_descsz;
			}
		}
	}
	return 0;
}

static Elf *open_elf(const char *path, int *fd)
{
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return NULL;
	Elf *elf = elf_begin(*fd, ELF_C_READ, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		if (elf)
			elf_end(elf);
		close(*fd);
		return NULL;
	}
	return elf;
}

static bool has_build_id(const char *path, const unsigned char *id, size_t len)
{
	int fd;
	Elf *elf = open_elf(path, &fd);
	if (!elf)
		return false;
	unsigned char other[MAX_BUILD_ID];
	bool same = build_id(elf, other) == len && !memcmp(id, other, len);
	elf_end(elf);
	close(fd);
	return same;
}

static char *find_by_build_id(Elf *elf, const char *root)
{
	unsigned char id[MAX_BUILD_ID];
	size_t len = build_id(elf, id);
	if (len < 2)
		return NULL;
	char hex[2 * MAX_BUILD_ID + 1];
	for (size_t i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", id[i]);
	char *path = str_printf("%s" DEBUG_DIR "/.build-id/%.2s/%s.debug", root, hex, hex + 2);
	if (path && has_build_id(path, id, len))
		return path;
	free(path);
	return NULL;
}

/* .gnu_debuglink: a file name, NUL-padded to 4 bytes, then the CRC32 of that file. */
static const char *debuglink(Elf *elf, uint32_t *crc)
{
	size_t names;
	if (elf_getshdrstrndx(elf, &names) != 0)
		return NULL;
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr shdr;
		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != SHT_PROGBITS)
			continue;
		const char *name = elf_strptr(elf, names, shdr.sh_name);
		if (!name || strcmp(name, ".gnu_debuglink") != 0)
			continue;
		Elf_Data *data = elf_getdata(scn, NULL);
		if (!data || !data->d_buf || data->d_size < 8)
			return NULL;
		const char *link = data->d_buf;
		size_t len = strnlen(link, data->d_size);
		size_t crc_at = (len + 4) & ~(size_t)3;
		if (len == 0 || crc_at + 4 > data->d_size)
			return NULL;
		memcpy(crc, link + crc_at, 4); /* the file's byte order: ours, for our processes */
		return link;
	}
	return NULL;
}

static bool has_crc(const char *path, uint32_t expected)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	uLong crc = crc32(0L, Z_NULL, 0);
	unsigned char buf[65536];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		crc = crc32(crc, buf, (uInt)n);
	close(fd);
	return n == 0 && (uint32_t)crc == expected;
}

static char *find_by_debuglink(Elf *elf, const char *root, const char *path)
{
	uint32_t crc;
	const char *link = debuglink(elf, &crc);
	if (!link || strchr(link, '/'))
		return NULL;
	const char *slash = strrchr(path, '/');
	int dir_len = slash ? (int)(slash - path) : 0;
	if (slash && !strcmp(slash + 1, link))
		return NULL; /* a link to the file itself */
	char *candidates[] = {
		str_printf("%s%.*s/%s", root, dir_len, path, link),
		str_printf("%s%.*s/.debug/%s", root, dir_len, path, link),
		str_printf("%s" DEBUG_DIR "%.*s/%s", root, dir_len, path, link),
	};
	char *found = NULL;
	for (size_t i = 0; i < sizeof(candidates) / sizeof(*candidates); i++) {
		if (!found && candidates[i] && has_crc(candidates[i], crc))
			found = candidates[i];
		else
			free(candidates[i]);
	}
	return found;
}

char *debug_file_find(Elf *elf, const char *root, const char *path)
{
	char *found = find_by_build_id(elf, root);
	return found ? found : find_by_debuglink(elf, root, path);
}
