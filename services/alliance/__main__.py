from runtime.run import run_service
from services.alliance.app import build

run_service("alliance", build)
