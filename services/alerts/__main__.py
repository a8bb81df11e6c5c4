from runtime.run import run_service
from services.alerts.app import build

run_service("alerts", build)
