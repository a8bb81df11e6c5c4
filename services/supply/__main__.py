from runtime.run import run_service
from services.supply.app import build

run_service("supply", build)
