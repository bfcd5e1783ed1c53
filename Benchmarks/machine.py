"""What every benchmark table says about the machine it ran on."""
from __future__ import annotations

import subprocess


def cpu() -> str:
    """lscpu's model name, its family and model (the name alone, "AMD EPYC", does not tell Zen 4
    from Zen 5) and the instruction sets that decide Tandem's kernel tier."""
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    info = dict((k.strip(), v.strip()) for k, v in (line.split(":", 1) for line in out.splitlines() if ":" in line))
    flags = info.get("Flags", "").split()
    isa = [f for f in ("amx_tile", "avx512_vnni", "avx512_bf16", "avx512f", "avx_vnni", "avx2", "asimddp", "i8mm")
           if f in flags]
    return (f"{info.get('Model name', 'unknown CPU')} (family {info.get('CPU family', '?')}, model {info.get('Model', '?')}; "
            f"{', '.join(isa) or 'no AVX2'})")
