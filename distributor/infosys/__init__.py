"""The information system: ``bdii`` (the bounded BDII reader), ``collect`` (the publication
from the BDII or each site's GIP output, the map and the check against what pps pushed)."""
