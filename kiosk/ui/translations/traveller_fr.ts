<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="fr">
<context>
    <name>Traveller</name>
    <message>
        <source>Call an officer</source>
        <translation>Appeler un agent</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>Annuler</translation>
    </message>
    <message>
        <source>Welcome</source>
        <translation>Bienvenue</translation>
    </message>
    <message>
        <source>Choose your language, then touch Start.</source>
        <translation>Choisissez votre langue, puis touchez Commencer.</translation>
    </message>
    <message>
        <source>Start</source>
        <translation>Commencer</translation>
    </message>
    <message>
        <source>Who can use this gate</source>
        <translation>Qui peut utiliser ce sas</translation>
    </message>
    <message>
        <source>An electronic passport</source>
        <translation>Un passeport électronique</translation>
    </message>
    <message>
        <source>An electronic identity card</source>
        <translation>Une carte d&apos;identité électronique</translation>
    </message>
    <message>
        <source>Aged %1 or over</source>
        <translation>Âgé de %1 ans ou plus</translation>
    </message>
    <message>
        <source>At least %1 cm tall</source>
        <translation>Mesurant au moins %1 cm</translation>
    </message>
    <message>
        <source>I can use this gate</source>
        <translation>Je peux utiliser ce sas</translation>
    </message>
    <message>
        <source>Place your document</source>
        <translation>Posez votre document</translation>
    </message>
    <message>
        <source>Place your document again</source>
        <translation>Posez à nouveau votre document</translation>
    </message>
    <message>
        <source>Open it at the photo page and lay it face down on the reader.</source>
        <translation>Ouvrez-le à la page de la photo et posez-le face contre le lecteur.</translation>
    </message>
    <message>
        <source>Look at the camera</source>
        <translation>Regardez la caméra</translation>
    </message>
    <message>
        <source>Please walk through</source>
        <translation>Veuillez avancer</translation>
    </message>
    <message>
        <source>Please go to the officer</source>
        <translation>Veuillez vous adresser à l&apos;agent</translation>
    </message>
    <message>
        <source>Do you need more time?</source>
        <translation>Avez-vous besoin de plus de temps ?</translation>
    </message>
    <message>
        <source>Touch More time to continue.</source>
        <translation>Touchez Plus de temps pour continuer.</translation>
    </message>
    <message>
        <source>More time</source>
        <translation>Plus de temps</translation>
    </message>
    <message>
        <source>This gate is closed</source>
        <translation>Ce sas est fermé</translation>
    </message>
    <message>
        <source>Please use another gate or go to the officer.</source>
        <translation>Veuillez utiliser un autre sas ou vous adresser à l&apos;agent.</translation>
    </message>
</context>
</TS>
