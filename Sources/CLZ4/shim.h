// Exposes the system LZ4 block API (lz4.h from liblz4-dev) to Swift.
#include <lz4.h>
