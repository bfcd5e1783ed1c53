// The C shim over sentencepiece::SentencePieceProcessor declared in include/csentencepiece.h.
//
// Every entry point is noexcept in effect: C++ exceptions (std::bad_alloc, anything from the
// library) are caught here and turned into status codes, because unwinding through Swift frames
// is undefined behaviour. Buffers handed to the caller are malloc'd so the caller can release
// them with the matching csp_free_* function without knowing about C++ allocators.
#include "csentencepiece.h"

#include <sentencepiece_processor.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <vector>

struct csp_processor {
    sentencepiece::SentencePieceProcessor sp;
};

namespace {

/// Copies `text` into a malloc'd NUL-terminated buffer; NULL when allocation fails.
char *copy_string(const char *text, size_t length) {
    char *out = static_cast<char *>(std::malloc(length + 1));
    if (out == nullptr) return nullptr;
    if (length > 0) std::memcpy(out, text, length);
    out[length] = '\0';
    return out;
}

void set_message(char **message, const std::string &text) {
    if (message != nullptr) *message = copy_string(text.data(), text.size());
}

bool in_range(const csp_processor *p, int32_t id) {
    return p != nullptr && id >= 0 && id < p->sp.GetPieceSize();
}

/// Runs `body`, mapping exceptions to statuses with a message.
template <typename Body>
csp_status guarded(char **message, Body body) {
    try {
        return body();
    } catch (const std::bad_alloc &) {
        set_message(message, "out of memory");
        return CSP_OUT_OF_MEMORY;
    } catch (const std::exception &e) {
        set_message(message, std::string("sentencepiece: ") + e.what());
        return CSP_INTERNAL;
    } catch (...) {
        set_message(message, "sentencepiece: unknown C++ exception");
        return CSP_INTERNAL;
    }
}

}  // namespace

extern "C" {

csp_status csp_load(const uint8_t *bytes, size_t length, csp_processor **out, char **message) {
    if (out == nullptr) return CSP_INVALID_ARGUMENT;
    *out = nullptr;
    if (message != nullptr) *message = nullptr;
    if (bytes == nullptr && length > 0) {
        set_message(message, "model bytes are NULL");
        return CSP_INVALID_ARGUMENT;
    }
    if (length == 0) {
        set_message(message, "model is empty");
        return CSP_INVALID_MODEL;
    }
    return guarded(message, [&]() -> csp_status {
        // Owned until success: the library throws on some malformed models (darts_clone's "failed
        // to insert key: zero-length key"), and `guarded` catching that must not leak the
        // half-loaded processor (found by Fuzz/FuzzSentencePieceModel).
        std::unique_ptr<csp_processor> p(new (std::nothrow) csp_processor());
        if (p == nullptr) {
            set_message(message, "out of memory");
            return CSP_OUT_OF_MEMORY;
        }
        const auto status = p->sp.LoadFromSerializedProto(
            std::string_view(reinterpret_cast<const char *>(bytes), length));
        if (!status.ok()) {
            set_message(message, status.ToString());
            return CSP_INVALID_MODEL;
        }
        if (p->sp.GetPieceSize() <= 0) {
            set_message(message, "model has an empty vocabulary");
            return CSP_INVALID_MODEL;
        }
        *out = p.release();
        return CSP_OK;
    });
}

void csp_free(csp_processor *processor) { delete processor; }

csp_status csp_encode(const csp_processor *processor, const char *text, size_t length,
                      int32_t **ids, size_t *count, char **message) {
    if (message != nullptr) *message = nullptr;
    if (processor == nullptr || ids == nullptr || count == nullptr || (text == nullptr && length > 0))
        return CSP_INVALID_ARGUMENT;
    *ids = nullptr;
    *count = 0;
    return guarded(message, [&]() -> csp_status {
        std::vector<int> out;
        const auto status = processor->sp.Encode(std::string_view(text == nullptr ? "" : text, length), &out);
        if (!status.ok()) {
            set_message(message, status.ToString());
            return CSP_INTERNAL;
        }
        if (out.empty()) return CSP_OK;
        auto *buffer = static_cast<int32_t *>(std::malloc(out.size() * sizeof(int32_t)));
        if (buffer == nullptr) {
            set_message(message, "out of memory");
            return CSP_OUT_OF_MEMORY;
        }
        for (size_t i = 0; i < out.size(); ++i) buffer[i] = static_cast<int32_t>(out[i]);
        *ids = buffer;
        *count = out.size();
        return CSP_OK;
    });
}

csp_status csp_decode(const csp_processor *processor, const int32_t *ids, size_t count,
                      char **text, size_t *length, char **message) {
    if (message != nullptr) *message = nullptr;
    if (processor == nullptr || text == nullptr || length == nullptr || (ids == nullptr && count > 0))
        return CSP_INVALID_ARGUMENT;
    *text = nullptr;
    *length = 0;
    for (size_t i = 0; i < count; ++i) {
        if (!in_range(processor, ids[i])) {
            set_message(message, "id " + std::to_string(ids[i]) + " is outside the vocabulary");
            return CSP_INVALID_ARGUMENT;
        }
    }
    return guarded(message, [&]() -> csp_status {
        std::vector<int> in(ids, ids + count);
        std::string out;
        const auto status = processor->sp.Decode(in, &out);
        if (!status.ok()) {
            set_message(message, status.ToString());
            return CSP_INTERNAL;
        }
        char *buffer = copy_string(out.data(), out.size());
        if (buffer == nullptr) {
            set_message(message, "out of memory");
            return CSP_OUT_OF_MEMORY;
        }
        *text = buffer;
        *length = out.size();
        return CSP_OK;
    });
}

int32_t csp_vocab_size(const csp_processor *processor) {
    return processor == nullptr ? 0 : processor->sp.GetPieceSize();
}

csp_status csp_id_to_piece(const csp_processor *processor, int32_t id, char **piece, size_t *length) {
    if (piece == nullptr || length == nullptr) return CSP_INVALID_ARGUMENT;
    *piece = nullptr;
    *length = 0;
    if (!in_range(processor, id)) return CSP_INVALID_ARGUMENT;
    return guarded(nullptr, [&]() -> csp_status {
        const std::string &p = processor->sp.IdToPiece(id);
        char *buffer = copy_string(p.data(), p.size());
        if (buffer == nullptr) return CSP_OUT_OF_MEMORY;
        *piece = buffer;
        *length = p.size();
        return CSP_OK;
    });
}

int32_t csp_piece_to_id(const csp_processor *processor, const char *piece, size_t length) {
    if (processor == nullptr || (piece == nullptr && length > 0)) return -1;
    int32_t result = -1;
    guarded(nullptr, [&]() -> csp_status {
        const std::string_view wanted(piece == nullptr ? "" : piece, length);
        const int id = processor->sp.PieceToId(wanted);
        // PieceToId answers unk_id for a piece it does not know; only a round trip tells.
        if (in_range(processor, id) && processor->sp.IdToPiece(id) == wanted) result = id;
        return CSP_OK;
    });
    return result;
}

int32_t csp_unk_id(const csp_processor *processor) { return processor == nullptr ? -1 : processor->sp.unk_id(); }
int32_t csp_bos_id(const csp_processor *processor) { return processor == nullptr ? -1 : processor->sp.bos_id(); }
int32_t csp_eos_id(const csp_processor *processor) { return processor == nullptr ? -1 : processor->sp.eos_id(); }
int32_t csp_pad_id(const csp_processor *processor) { return processor == nullptr ? -1 : processor->sp.pad_id(); }

int csp_is_control(const csp_processor *processor, int32_t id) {
    return in_range(processor, id) && processor->sp.IsControl(id) ? 1 : 0;
}
int csp_is_unknown(const csp_processor *processor, int32_t id) {
    return in_range(processor, id) && processor->sp.IsUnknown(id) ? 1 : 0;
}
int csp_is_byte(const csp_processor *processor, int32_t id) {
    return in_range(processor, id) && processor->sp.IsByte(id) ? 1 : 0;
}

void csp_free_ids(int32_t *ids) { std::free(ids); }

void csp_free_string(char *string) { std::free(string); }

}  // extern "C"
