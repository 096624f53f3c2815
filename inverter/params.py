"""Power-stage hardware parameters shared by the gain design (inverter/design),
the plant models (inverter/plant) and the power-stage controller.

Team design values (calc) unless a source is named; every loss figure is a
datasheet-class assumption to be replaced by the chosen parts' datasheets.
Plain constants: this module is also flashed (MicroPython rules).
"""
from micropython import const

# ---------------------------------------------------------------- timing
FS_HZ = const(20000)          # PWM carrier = control rate (TI TIDM-HV-1PH-DCAC runs its ISR at 20 kHz,
TS_S = 1.0 / FS_HZ            # inverter-and-v2l-targets.md §4); one sample of computational delay
DEAD_TIME_S = 300e-9          # 650 V SiC half-bridge class dead time (team)

# ---------------------------------------------------------------- output filter, per phase
L_F_H = 1.0e-3                # filter inductor (team: ~2.5 A p-p ripple at 400 V, unipolar 20 kHz)
R_L_OHM = 0.04                # inductor winding + track resistance (team)
C_F_F = 15e-6                 # filter capacitor (f_res = 1.30 kHz, team)
L_CORE_LOSS_W = 4.0           # inductor core loss per phase at rated ripple (team, powder-core class)

# ---------------------------------------------------------------- bridge devices
R_DS_ON_OHM = 0.060           # 650 V SiC MOSFET, ~45 mOhm at 25 C -> ~60 mOhm hot (datasheet class, verify)
E_SW_REF_J = 60e-6            # Eon + Eoff per switching event at 400 V / 20 A (datasheet class, verify)
E_SW_REF_V = 400.0
E_SW_REF_A = 20.0
V_SD_V = 3.5                  # body-diode drop during dead time (SiC, datasheet class)

# ---------------------------------------------------------------- DC link and DC/DC
V_LINK_NOM_V = 420.0          # isolated DC/DC output (>= 357 V for 240 V L-L, targets §5)
C_LINK_F = 1.5e-3             # film/electrolytic bank (targets §5: 1.6-1.9 mF for 5 % p-p at 3.6 kW)
DCDC_BW_HZ = 15.0             # link-voltage loop well below 2f (targets §5: 10-20 Hz)
DCDC_P0_W = 18.0              # isolated DC/DC fixed loss: magnetising, gate drive, aux (team, DAB class)
DCDC_K1 = 0.012               # proportional loss (switching) (team)
DCDC_R_EQ_OHM = 0.05          # conduction loss referred to the inlet current (team)
AUX_W = 10.0                  # controller, fans at idle, sensors (team)

# ---------------------------------------------------------------- ratings
P_RATED_W = 3600.0            # the bench case of issue 12 (3.6 kW)
I_HW_TRIP_A = 75.0            # comparator -> PWM break, cycle by cycle (targets §6); SiC pulsed rating class
