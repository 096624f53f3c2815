"""Board pin map (v2xbox controller rev A, STM32F767/H743 class MCU).

Role name -> (MCU pin, active level or ADC scale). Application code uses the
role names only. ADC scales are the divider ratios on the board: the value
in mV at the MCU pin times the scale gives the signal in mV.
"""

GPIO_OUT = {
    # role: (pin, active_high)
    "K_DC_POS": ("B0", True),        # box-side DC+ contactor coil driver
    "K_DC_NEG": ("B1", True),        # box-side DC- contactor coil driver
    "K_PRECHARGE": ("B2", True),     # precharge / cable-check source enable
    "DC_DISCHARGE": ("B10", True),   # DC-link active discharge resistor
    "AC_OUT_RELAY": ("C6", True),    # AC output relay (L and N)
    "NPE_BOND_RELAY": ("C7", True),  # N-PE bond relay (closed for V2L island)
    "PS_ENABLE": ("C8", True),       # power stage hardware enable line
    "LOCK_MOTOR": ("C9", True),      # connector lock actuator
    "LED_STATUS": ("B7", True),
    "PLC_RESET": ("E3", False),      # Green PHY modem reset (active low)
    "CHADEMO_D1": ("D12", True),     # CHAdeMO charge sequence signal 1 (pin 2) relay
    "CHADEMO_D2": ("D13", True),     # CHAdeMO charge sequence signal 2 (pin 10) relay: car may close
    "RCD_TEST": ("D14", True),       # RCD self-test: injects the test residual current (V2V check)
}

GPIO_IN = {
    "ESTOP": ("E4", False),          # E-stop loop opened -> reads 0
    "K_DC_POS_AUX": ("E5", True),    # contactor auxiliary (mirror) contacts
    "K_DC_NEG_AUX": ("E6", True),
    "RCD_OK": ("E7", True),
    "LOCK_FB": ("E8", True),
    "PLC_IRQ": ("E9", False),
    "CHADEMO_K": ("E10", True),      # CHAdeMO charge permission (car's k switch, pin 4 / j)
    "CHADEMO_PROX": ("E11", True),   # CHAdeMO connector proximity (pin 7): plug present
    # V2H: the transfer switch's auxiliary contact, made (1) only when the home
    # is disconnected from the utility (the box may feed the generator inlet)
    "V2H_INTERLOCK": ("E12", True),
}

ADC = {
    # role: (pin, scale)
    "CP_SENSE": ("A0", 4.0),         # control pilot, -12..+12 V via offset divider
    "PP_SENSE": ("A1", 2.0),         # proximity circuit
    "V_INLET": ("A2", 400.0),        # DC inlet voltage (isolated amplifier)
    "V_LINK": ("A3", 400.0),         # box DC link voltage
    "T_INLET": ("A4", 1.0),          # inlet temperature sensor
    "V_AC_OUT": ("A5", 200.0),       # AC output voltage (backfeed detection)
}

PWM = {
    "CP_PWM": ("A8", 1),             # control pilot oscillator, TIM1 CH1
    "OUTLET_CP_PWM": ("A9", 2),      # J1772 AC outlet's own control pilot (V2V outlet mode), TIM1 CH2
}

CAN = {
    # bus role: (controller index, bit rate)
    "vehicle": (1, 500000),          # CHAdeMO vehicle CAN
    "internal": (2, 500000),         # main controller <-> power stage
    "service": (3, 500000),          # technician / service port
}

SPI_PLC = (2, 12000000)              # Green PHY modem (QCA7000-class) SPI bus, Hz
WDT_TIMEOUT_MS = 500
# Storage partitions (config, DTC log) per target chip: firmware/hal/flash_layout.py
