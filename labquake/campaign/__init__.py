"""Campaigns: many simulations from one spec, one task per run on dask.distributed.

- :mod:`labquake.campaign.spec`: the ``[campaign]`` table, checked and expanded into runs
- :mod:`labquake.campaign.execute`: one task, one run (:func:`run_one`)
- :mod:`labquake.campaign.scheduling`: the runs on a dask cluster, then the analysis stages
  and the report (:func:`run_campaign`)

The names below are the public API; ``labquake.batch`` is their deprecated path.
"""

from labquake.campaign.execute import run_one
from labquake.campaign.scheduling import (
    CampaignResult,
    analysis_functions,
    check_output_dir,
    local_cluster,
    read_events,
    read_state,
    run_campaign,
    simulate_runs,
)
from labquake.campaign.spec import (
    CAMPAIGN_OPTIONS,
    CampaignSpec,
    RunSpec,
    check_campaign_options,
    expand_campaign,
    load_campaign,
)

__all__ = [
    "CAMPAIGN_OPTIONS",
    "CampaignResult",
    "CampaignSpec",
    "RunSpec",
    "analysis_functions",
    "check_campaign_options",
    "check_output_dir",
    "expand_campaign",
    "load_campaign",
    "local_cluster",
    "read_events",
    "read_state",
    "run_campaign",
    "run_one",
    "simulate_runs",
]
