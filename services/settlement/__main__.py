from runtime.run import run_service
from services.settlement.app import build

run_service("settlement", build)
