// Placeholder until the shim lands; see Sources/CSentencePiece.
#pragma once
