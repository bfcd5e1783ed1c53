// CSentencePiece — a tiny C interface to the system SentencePiece library (libsentencepiece).
//
// Why a shim: Swift imports C directly, while SentencePiece's API is C++ (std::string,
// util::Status, absl::string_view). This header is plain C so TandemTokenizer needs no C++
// interop settings. Every function catches C++ exceptions inside the shim: errors come back as a
// status code plus a message, never as an exception crossing the C boundary.
//
// Ownership: a processor is created by csp_load and released by csp_free. Arrays and strings
// returned through out-parameters are allocated with malloc by the shim and released by the
// caller with csp_free_ids / csp_free_string. Nothing else needs freeing.
//
// Thread safety: after loading, a processor is read-only; SentencePiece's Encode and Decode are
// const member functions and may run concurrently on one processor.
#ifndef CSENTENCEPIECE_H
#define CSENTENCEPIECE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Status codes. CSP_OK is 0; everything else is an error, described by the message.
typedef enum {
    CSP_OK = 0,
    /// The model bytes are not a valid SentencePiece model (parse or consistency failure).
    CSP_INVALID_MODEL = 1,
    /// An argument is out of range (e.g. an id outside the vocabulary).
    CSP_INVALID_ARGUMENT = 2,
    /// SentencePiece reported some other failure (message says which).
    CSP_INTERNAL = 3,
    /// Memory allocation failed.
    CSP_OUT_OF_MEMORY = 4,
} csp_status;

/// An opaque SentencePiece processor.
typedef struct csp_processor csp_processor;

/// Loads a processor from the bytes of a serialized `ModelProto` (a `spiece.model` file's
/// contents). On success stores the processor in *out and returns CSP_OK. On failure returns an
/// error and, when `message` is not NULL, stores a malloc'd NUL-terminated description there
/// (free it with csp_free_string).
csp_status csp_load(const uint8_t *bytes, size_t length, csp_processor **out, char **message);

/// Releases a processor. NULL is allowed.
void csp_free(csp_processor *processor);

/// Encodes UTF-8 text into ids. *ids (malloc'd; NULL when *count is 0) and *count receive the
/// result. `message` as for csp_load.
csp_status csp_encode(const csp_processor *processor, const char *text, size_t length,
                      int32_t **ids, size_t *count, char **message);

/// Decodes ids into UTF-8 text. *text receives a malloc'd buffer of *length bytes plus a
/// terminating NUL. Every id must be in [0, csp_vocab_size); otherwise CSP_INVALID_ARGUMENT.
csp_status csp_decode(const csp_processor *processor, const int32_t *ids, size_t count,
                      char **text, size_t *length, char **message);

/// The number of pieces in the vocabulary.
int32_t csp_vocab_size(const csp_processor *processor);

/// The piece for `id` as a malloc'd UTF-8 buffer (*length bytes plus a NUL), or
/// CSP_INVALID_ARGUMENT when the id is out of range.
csp_status csp_id_to_piece(const csp_processor *processor, int32_t id, char **piece,
                           size_t *length);

/// The id of a piece, or -1 when the vocabulary has no such piece. (SentencePiece itself
/// answers the unknown id for a missing piece; the shim tells the two apart.)
int32_t csp_piece_to_id(const csp_processor *processor, const char *piece, size_t length);

/// Special ids; -1 when the model has none (T5 has no BOS).
int32_t csp_unk_id(const csp_processor *processor);
int32_t csp_bos_id(const csp_processor *processor);
int32_t csp_eos_id(const csp_processor *processor);
int32_t csp_pad_id(const csp_processor *processor);

/// Piece kinds: 1 when the id is a control symbol (`</s>`, `<pad>`), unknown (`<unk>`) or a
/// byte-fallback piece (`<0x41>`) respectively; 0 otherwise or when out of range.
int csp_is_control(const csp_processor *processor, int32_t id);
int csp_is_unknown(const csp_processor *processor, int32_t id);
int csp_is_byte(const csp_processor *processor, int32_t id);

/// Releases an id array returned by csp_encode. NULL is allowed.
void csp_free_ids(int32_t *ids);

/// Releases a string returned through a `char **` out-parameter. NULL is allowed.
void csp_free_string(char *string);

#ifdef __cplusplus
}
#endif

#endif  // CSENTENCEPIECE_H
