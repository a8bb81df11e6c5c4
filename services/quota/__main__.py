from runtime.run import run_service
from services.quota.app import build

run_service("quota", build)
