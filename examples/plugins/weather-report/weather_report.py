"""Current weather for a few stations, from api.weather.gov, with a local cache.

Everything it touches is declared in plugin.yaml: the station list under
data/, a cache in its work directory (the current directory in the pen), one
HTTPS host, and the TZ variable.
"""

import json
import os
import urllib.request
from pathlib import Path

import corral

HERE = Path(__file__).resolve().parent
API = "https://api.weather.gov/stations/{id}/observations/latest"


class WeatherPlugin(corral.Plugin):
    def setup(self) -> None:
        self.stations = json.loads((HERE / "data" / "stations.json").read_text())

    def station_ids(self) -> list[str]:
        return [s["id"] for s in self.stations]

    def summary(self, station: str) -> dict:
        """The latest observation, fetched live and cached; the cache if offline."""
        cache = Path(f"{station}.json")
        try:
            request = urllib.request.Request(
                API.format(id=station), headers={"User-Agent": "corral-example"}
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                props = json.load(response)["properties"]
            cache.write_text(json.dumps(props))
        except OSError:
            if not cache.exists():
                raise
            props = json.loads(cache.read_text())
        return {
            "station": station,
            "temperature_c": (props.get("temperature") or {}).get("value"),
            "text": props.get("textDescription", ""),
            "tz": os.environ.get("TZ", "UTC"),
        }
