/*  Checking a kept export (issue 16, "export, then destroy"): the zip on
    the allocator's disk opens, is consistent, and holds exactly the files
    its MANIFEST.txt lists, each with the SHA-256 written there. Only then
    may the fleet be destroyed. Also says how many VMs the manifest lists
    as FAILED (their data is not in the zip). */
#ifndef LL_EXPORTER_CHECK_H
#define LL_EXPORTER_CHECK_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int files;       //  data files checked
    int failed_vms;  //  VMs the manifest lists as FAILED
    uint64_t bytes;  //  bytes of the data files
} ll_export_check_t;

//  0 when the archive at path is sound, else -1 with the reason.
int ll_export_check (const char *path,
                     ll_export_check_t *out,
                     char *error,
                     size_t errsize);

#endif
