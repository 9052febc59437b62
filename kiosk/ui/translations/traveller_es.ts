<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="es">
<context>
    <name>Traveller</name>
    <message>
        <source>Call an officer</source>
        <translation>Llamar a un agente</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>Cancelar</translation>
    </message>
    <message>
        <source>Welcome</source>
        <translation>Bienvenido</translation>
    </message>
    <message>
        <source>Choose your language, then touch Start.</source>
        <translation>Elija su idioma y toque Empezar.</translation>
    </message>
    <message>
        <source>Start</source>
        <translation>Empezar</translation>
    </message>
    <message>
        <source>Who can use this gate</source>
        <translation>Quién puede usar esta puerta</translation>
    </message>
    <message>
        <source>An electronic passport</source>
        <translation>Un pasaporte electrónico</translation>
    </message>
    <message>
        <source>An electronic identity card</source>
        <translation>Un documento de identidad electrónico</translation>
    </message>
    <message>
        <source>Aged %1 or over</source>
        <translation>Con %1 años o más</translation>
    </message>
    <message>
        <source>At least %1 cm tall</source>
        <translation>Con al menos %1 cm de altura</translation>
    </message>
    <message>
        <source>I can use this gate</source>
        <translation>Puedo usar esta puerta</translation>
    </message>
    <message>
        <source>Place your document</source>
        <translation>Coloque su documento</translation>
    </message>
    <message>
        <source>Place your document again</source>
        <translation>Coloque su documento de nuevo</translation>
    </message>
    <message>
        <source>Open it at the photo page and lay it face down on the reader.</source>
        <translation>Ábralo por la página de la foto y colóquelo boca abajo sobre el lector.</translation>
    </message>
    <message>
        <source>Look at the camera</source>
        <translation>Mire a la cámara</translation>
    </message>
    <message>
        <source>Please walk through</source>
        <translation>Puede pasar</translation>
    </message>
    <message>
        <source>Please go to the officer</source>
        <translation>Diríjase al agente, por favor</translation>
    </message>
    <message>
        <source>Do you need more time?</source>
        <translation>¿Necesita más tiempo?</translation>
    </message>
    <message>
        <source>Touch More time to continue.</source>
        <translation>Toque Más tiempo para continuar.</translation>
    </message>
    <message>
        <source>More time</source>
        <translation>Más tiempo</translation>
    </message>
    <message>
        <source>This gate is closed</source>
        <translation>Esta puerta está cerrada</translation>
    </message>
    <message>
        <source>Please use another gate or go to the officer.</source>
        <translation>Use otra puerta o diríjase al agente, por favor.</translation>
    </message>
</context>
</TS>
