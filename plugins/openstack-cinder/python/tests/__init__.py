# Tests bound what a call may take by the deadline the code enforces on itself plus this margin for
# a busy machine (the suite runs on a shared 2-core box); speed itself is measured in bench/.
SCHEDULING_MARGIN_S = 20.0
