// Descriptors 0, 1 and 2 are the standard streams, whatever the parent left open.
//
// A program started with stdout or stderr closed (`cmd >&-`) would hand descriptor 1 or 2 to the
// next file it opens, and its output or log lines would land in that file: a model, a manifest.
// ReserveStandardDescriptors() puts /dev/null, opened read-only, on each of 0-2 that is closed,
// so no file ever takes their place and a write to a closed stream fails (EBADF) instead of
// succeeding somewhere else. Call it first in main(), before any thread or file exists.
#ifndef LLORCH_COMMON_STANDARD_FDS_H_
#define LLORCH_COMMON_STANDARD_FDS_H_

namespace llorch {

void ReserveStandardDescriptors();

}  // namespace llorch

#endif  // LLORCH_COMMON_STANDARD_FDS_H_
