import sys
from pathlib import Path

# What the tests share lives in tests/helpers, imported as ``helpers`` (run_cli, the differential
# driver, synthetic LOBSTER days): this folder on the path, whatever pytest's import mode.
sys.path.insert(0, str(Path(__file__).parent))
